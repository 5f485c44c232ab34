"""Delivery: the send ledger (exactly once), retries, rate limits, the sandbox server, and the
entry points orchestration calls (`activations.delivery.api`). Provider SDKs live in
`activations/channels/`, which build on `config`, `engine`, `ledger` and `resilience` here; this
package file imports nothing, so channels and delivery form no import cycle.

    from activations.delivery.api import deliver_prepared, send_messages
    from crmloop.settings import DeliveryConfig
"""
