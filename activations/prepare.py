"""prepare_messages: plan + warehouse → audiences → suppression → rendered messages.

The one entry point delivery and orchestration call (see activations/README.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from jinja2 import UndefinedError

from activations.audiences import compute_audiences, write_audiences
from activations.content import CampaignRenderer, pick_language, sms_cost, sms_segments
from activations.outbound import ChannelBatch, Message, PreparedCampaign, PreparedCampaigns, send_id_for
from activations.plan import Plan, coerce_plan
from activations.suppression import (
    apply_suppression,
    load_ledger,
    load_suppression_list,
    write_suppressions,
)

FIELD_KEYS = ("first_name", "last_name", "email", "phone", "address", "district", "province", "postal_code")


def _val(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return v


def build_messages(
    plan: Plan, campaign_id: str, channel: str, eligible: pd.DataFrame, send_date: date
) -> list[Message]:
    """Pure: render one campaign × channel's eligible rows into Messages."""
    camp = plan.campaign(campaign_id)
    renderer = CampaignRenderer(plan, camp, send_date)
    senders = plan.senders
    out: list[Message] = []
    for row in eligible.to_dict("records"):
        row = {k: _val(v) for k, v in row.items()}
        to = row["address"]  # the channel's address; the profile's postal address is address_profile
        for k in [k for k in row if k.endswith("_profile")]:
            row[k[: -len("_profile")]] = row.pop(k)
        cid = str(row["customer_id"])
        lang = pick_language(plan, row.get("first_name"))
        try:
            content = renderer.render(channel, row, lang)
        except UndefinedError as exc:
            raise LookupError(
                f"campaign {campaign_id!r} channel {channel!r} customer {cid}: template needs a value the "
                f"profile lacks: {exc.message}"
            ) from None
        fields = {k: row.get(k) for k in FIELD_KEYS}
        fields["country"] = "TH"
        sid = send_id_for(campaign_id, cid, channel, send_date)
        custom_args = {
            "campaign_id": campaign_id,
            "send_id": sid,
            "customer_id": cid,
            "channel": channel,
            "send_date": send_date.isoformat(),
        }
        kw: dict[str, Any] = {}
        if channel == "email":
            kw = dict(
                subject=content["subject"], text=content["text"], html=content["html"],
                sender=senders.email.address, sender_name=senders.email.name,
            )  # fmt: skip
        elif channel == "sms":
            body = content["body"]
            count = sms_segments(body)
            kw = dict(
                sms_body=body, sms_segments=count.segments, sms_encoding=count.encoding,
                sender=senders.sms.messaging_service_sid or senders.sms.sender_id,
                sender_name=senders.sms.sender_id,
            )  # fmt: skip
        elif channel == "phone":
            kw = dict(text=content["script"])
        elif channel == "direct_mail":
            kw = dict(text=content["letter"])
        elif channel == "ads":
            kw = dict(subject=camp.content["ads"].audience_name)
        nb = row.get("not_before")
        out.append(
            Message(
                campaign_id=campaign_id,
                customer_id=cid,
                channel=channel,
                send_date=send_date,
                to=str(to),
                not_before=nb if isinstance(nb, datetime) else None,
                custom_args=custom_args,
                language=lang,
                fields=fields,
                **kw,
            )
        )
    return out


def prepare_messages(
    warehouse_path: str | Path,
    plan: Plan | str | Path,
    as_of: date,
    send_date: date,
    now: datetime,
    *,
    progress: Callable[[str], None] | None = None,
) -> PreparedCampaigns:
    """Build audiences, suppress, render. Writes marts.campaign_audiences (+ snapshot) and
    activations.campaign_suppressions; returns the messages per campaign × channel with counts."""
    plan = coerce_plan(plan)
    if now.tzinfo is None:
        raise ValueError("prepare_messages: `now` must be timezone-aware")
    t0 = time.perf_counter()
    con = duckdb.connect(str(warehouse_path))
    try:
        audience, profiles_by_campaign, summary = compute_audiences(con, plan, as_of, send_date, progress)
        write_audiences(con, audience, send_date)
        slist = load_suppression_list(con)
        window = plan.frequency_cap.window_days
        ledger = load_ledger(con, send_date - timedelta(days=window), send_date)
        frames = [p for p in profiles_by_campaign.values() if not p.empty]
        profiles = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"customer_id": []})
        result = apply_suppression(audience, profiles, plan, send_date, now, slist, ledger)
        write_suppressions(con, result.suppressed, send_date)
    finally:
        con.close()
    if progress:
        progress(
            f"audiences: {len(audience)} rows, {int(audience['holdout'].sum())} held out, "
            f"{len(result.suppressed)} suppressed, {len(result.eligible)} eligible "
            f"({time.perf_counter() - t0:.1f}s)"
        )

    prepared = PreparedCampaigns(as_of=as_of, send_date=send_date)
    groups = dict(tuple(result.eligible.groupby(["campaign_id", "channel"], sort=False))) if len(result.eligible) else {}
    price = plan.sms.price_per_segment
    for camp in plan.campaigns:
        pc = PreparedCampaign(
            campaign_id=camp.id, name=camp.name, active=camp.id in summary.counts, currency=plan.currency
        )
        prepared.campaigns[camp.id] = pc
        if not pc.active:
            continue
        for ch in camp.channels:
            counts = summary.counts[camp.id][ch]
            rows = groups.get((camp.id, ch))
            msgs = build_messages(plan, camp.id, ch, rows, send_date) if rows is not None else []
            batch = ChannelBatch(
                campaign_id=camp.id,
                channel=ch,
                audience=counts["audience"],
                holdout=counts["holdout"],
                suppressed=dict(result.counts.get((camp.id, ch), {})),
                messages=msgs,
                queued=sum(1 for m in msgs if m.not_before is not None),
                sample=msgs[0] if msgs else None,
            )
            if ch == "sms":
                batch.sms_segments = sum(m.sms_segments for m in msgs)
                batch.estimated_cost = sms_cost(batch.sms_segments, price)
            if not batch.counts_add_up():  # an internal invariant: never hand delivery a broken count
                raise AssertionError(f"{camp.id}/{ch}: counts do not add up: {batch.metadata()}")
            pc.channels[ch] = batch
            if progress:
                progress(f"{camp.id}/{ch}: {batch.metadata()}")
    return prepared
