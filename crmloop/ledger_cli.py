"""`crmloop ledger`: the operator's decisions on sends whose fate the provider could not tell.

A batch is `ambiguous` when its request may or may not have reached the provider and nothing
could settle it (no Email Activity look-up, past SendGrid's cancel deadline). Delivery never
resends it by itself and every run's channel summary names it (`operator_action`). After
checking the batch at the provider, a person records what happened here.
"""

from __future__ import annotations

from pathlib import Path

import click


def _ledger(home: str | None):
    from activations.delivery.ledger import SendLedger
    from crmloop.settings import DeliveryConfig

    where = Path(home).expanduser().resolve() if home else None  # None: CRM_HOME, read by the settings
    return SendLedger(DeliveryConfig.from_env(home=where).warehouse_path)


home_option = click.option(
    "--home", default=None, help="The crmloop home (its warehouse) [default: $CRM_HOME or ./.crm]."
)


@click.group("ledger")
def ledger() -> None:
    """Ambiguous sends: list them, and record what the provider says happened."""


@ledger.command("ambiguous")
@home_option
@click.option("--channel", type=click.Choice(["email", "sms"]), default=None)
def ambiguous(home: str | None, channel: str | None) -> None:
    """List the batches whose recipients may or may not have been sent."""
    led = _ledger(home)
    try:
        rows = led.ambiguous(channel)
    finally:
        led.close()
    if not rows:
        click.echo("nothing ambiguous")
        return
    batches: dict[tuple, int] = {}
    reasons: dict[str, str] = {}
    for batch_id, campaign_id, _customer, ch, send_date, _address, reason in rows:
        key = (ch, batch_id, campaign_id, str(send_date))
        batches[key] = batches.get(key, 0) + 1
        reasons.setdefault(batch_id, reason or "")
    for (ch, batch_id, campaign_id, send_date), n in sorted(batches.items()):
        click.echo(f"{ch}\t{batch_id}\t{campaign_id}\t{send_date}\t{n} recipient(s)\t{reasons[batch_id]}")


def _decide(home: str | None, batch_id: str, decide, done: str) -> None:
    """Apply an operator's decision (a SendLedger method) to a batch's ambiguous rows, or refuse
    when the batch has none; `done` is said with the count, e.g. "released {n} recipient(s)"."""
    led = _ledger(home)
    try:
        n = decide(led, batch_id)
    finally:
        led.close()
    if not n:
        raise click.ClickException(f"no ambiguous rows in batch {batch_id} (see `crmloop ledger ambiguous`)")
    click.echo(done.format(n=n, batch_id=batch_id))


def _decision_command(name: str, summary: str, decide, done: str) -> None:
    """`crmloop ledger <name> BATCH_ID`: one operator decision on a batch (see `_decide`)."""

    @ledger.command(name, help=summary)
    @home_option
    @click.argument("batch_id")
    def command(home: str | None, batch_id: str) -> None:
        _decide(home, batch_id, decide, done)


_decision_command(
    "release",
    "The provider did NOT deliver BATCH_ID: its recipients are sent by the next run.",
    lambda led, b: led.release_ambiguous(b),
    "released {n} recipient(s) of {batch_id}: the next run sends them",
)
_decision_command(
    "confirm-sent",
    "The provider delivered BATCH_ID (e.g. seen in its Activity UI): mark its recipients sent.",
    lambda led, b: led.mark_ambiguous_sent(b),
    "marked {n} recipient(s) of {batch_id} as sent",
)
