"""Delivery: the send ledger (exactly once), retries, rate limits, the sandbox sink, and the
entry points orchestration calls. Provider SDKs live in `activations/channels/`.

    from activations.delivery import DeliveryConfig, send_messages, deliver_prepared
"""

from activations.delivery.api import deliver_prepared, make_client, send_messages
from activations.delivery.config import DeliveryConfig, DeliveryConfigError
from activations.delivery.engine import BatchResult, ChannelSummary, deliver
from activations.delivery.ledger import Outcome, SendLedger

__all__ = [
    "BatchResult",
    "ChannelSummary",
    "DeliveryConfig",
    "DeliveryConfigError",
    "Outcome",
    "SendLedger",
    "deliver",
    "deliver_prepared",
    "make_client",
    "send_messages",
]
