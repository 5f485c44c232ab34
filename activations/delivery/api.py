"""Entry points orchestration calls: send one channel, or everything `prepare_messages` produced."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from activations.delivery.engine import ChannelSummary, Progress, deliver
from activations.delivery.ledger import SendLedger
from activations.delivery.sandbox_server import SandboxSink
from crmloop.settings import DeliveryConfig, DeliveryConfigError

SENDABLE = ("email", "sms")


def make_client(channel: str, cfg: DeliveryConfig, base_url: str | None = None):
    """The channel client for `channel` (imports the provider SDK only when asked)."""
    if channel == "email":
        from activations.channels.email import EmailClient

        return EmailClient(cfg, base_url)
    if channel == "sms":
        from activations.channels.sms import SmsClient

        return SmsClient(cfg, base_url)
    raise DeliveryConfigError(f"no sender for channel {channel!r} (expected one of {SENDABLE})")


@contextlib.contextmanager
def _endpoint(cfg: DeliveryConfig, send_date: date):
    """(cfg, base_url or None): in sandbox, a sink on 127.0.0.1 takes every request."""
    if cfg.mode == "sandbox":
        with SandboxSink(cfg.outbox_dir, send_date) as sink:
            # the sink answers the Email Activity look-up from the outbox, exactly and at once
            # (each request is on disk before its answer): use it, with no feed lag to wait out
            yield replace(cfg, sendgrid_activity_lookup=True, lookup_settle_seconds=0.0), sink.url
    else:
        yield cfg, None


def send_messages(
    channel: str,
    messages: Iterable[Any],
    *,
    cfg: DeliveryConfig,
    send_date: date,
    ledger: SendLedger | None = None,
    progress: Progress | None = None,
    summary: ChannelSummary | None = None,
) -> ChannelSummary:
    """Send email or SMS messages exactly once (see activations/delivery/README.md)."""
    own = ledger is None
    ledger = ledger or SendLedger(cfg.warehouse_path)
    try:
        with _endpoint(cfg, send_date) as (cfg2, base_url):
            client = make_client(channel, cfg2, base_url)
            try:
                result = deliver(messages, client, ledger, mode=cfg.mode, progress=progress, summary=summary)
            finally:
                client.close()
            result.sample = result.sample or client.sample
            return result
    finally:
        if own:
            ledger.close()


def deliver_prepared(
    prepared: Any, settings: Any, *, cfg: DeliveryConfig | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Deliver everything `activations.audiences.messages.prepare_messages` returned.

    email, sms → send ledger + SendGrid / Twilio; ads → Meta Custom Audience sync + Google
    Customer Match upload file (`<home>/outbox/ads/<date>/google_customer_match_<campaign>.csv`,
    in both modes: in live mode it is the file a person uploads). Returns per-channel metadata;
    SMS cost is the plan's estimate (`plan.yml` `sms.price_per_segment`, in the plan's currency)."""
    cfg = cfg or DeliveryConfig.from_env(home=Path(settings.home))
    send_date = prepared.send_date
    out: dict[str, Any] = {}
    ledger = SendLedger(cfg.warehouse_path)
    try:
        for channel in SENDABLE:
            batches = list(prepared.batches(channel))
            if not batches:
                continue
            summary = ChannelSummary(channel=channel, mode=cfg.mode)
            for b in batches:
                summary.add_plan(b.metadata())
            if channel == "sms":
                currencies = {c.currency for c in prepared.campaigns.values() if channel in c.channels}
                summary.extra["currency"] = ", ".join(sorted(currencies))
            msgs = [m for b in batches for m in b.messages]
            summary = send_messages(
                channel, msgs, cfg=cfg, send_date=send_date, ledger=ledger, progress=progress, summary=summary
            )
            if summary.sample is None and batches[0].sample is not None:
                summary.sample = _message_sample(batches[0].sample)
            out[channel] = summary.to_metadata()
        ads = list(prepared.batches("ads"))
        if ads:
            out["ads"] = _deliver_ads(ads, cfg, settings, send_date, ledger, progress)
    finally:
        ledger.close()
    return out


def _message_sample(m: Any) -> dict:
    return {k: getattr(m, k, None) for k in ("to", "subject", "text", "sms_body")}


def _deliver_ads(
    batches, cfg: DeliveryConfig, settings, send_date: date, ledger: SendLedger, progress
) -> dict:
    """Ads summary: totals at the top (what a channel summary shows), per campaign under
    `by_campaign` (`campaigns` is left to whoever lays the summary out, e.g. Dagster metadata)."""
    from activations.channels.google_ads import write_customer_match
    from activations.channels.meta import MetaAudienceClient, sync_meta_audience

    by_campaign: dict[str, Any] = {}
    totals = {
        "sent": 0,
        "meta_added": 0,
        "meta_removed": 0,
        "meta_unchanged": 0,
        "meta_requests": 0,
        "google_customer_match_rows": 0,
    }
    unmatchable = 0
    folder = cfg.outbox_dir / "ads" / send_date.isoformat()
    with _endpoint(cfg, send_date) as (cfg2, base_url):
        meta = MetaAudienceClient(cfg2, base_url)
        try:
            for b in batches:
                started = time.perf_counter()
                audience_id = cfg2.meta_audience_id(b.campaign_id)
                if cfg.mode == "sandbox":
                    audience_id = f"sandbox-{b.campaign_id}"
                msum = sync_meta_audience(
                    b.messages, audience_id, meta, ledger, campaign_id=b.campaign_id, progress=progress
                )
                gfile = write_customer_match(
                    b.messages, folder / f"google_customer_match_{b.campaign_id}.csv"
                )
                by_campaign[b.campaign_id] = {
                    **b.metadata(),
                    "meta": msum.to_metadata(),
                    "google_customer_match": gfile.metadata(),
                    "sent": msum.audience_size,
                    "failed_by_reason": {"unmatchable": msum.unmatchable} if msum.unmatchable else {},
                    "elapsed_seconds": round(time.perf_counter() - started, 3),
                }
                totals["sent"] += msum.audience_size
                totals["meta_added"] += msum.added
                totals["meta_removed"] += msum.removed
                totals["meta_unchanged"] += msum.unchanged
                totals["meta_requests"] += msum.requests
                totals["google_customer_match_rows"] += gfile.rows
                unmatchable += msum.unmatchable
        finally:
            meta.close()
    return {
        "channel": "ads",
        "mode": cfg.mode,
        **totals,
        "failed_by_reason": {"unmatchable": unmatchable} if unmatchable else {},
        "google_customer_match_files": [c["google_customer_match"]["path"] for c in by_campaign.values()],
        "by_campaign": by_campaign,
    }
