"""prepare_messages: plan + warehouse → audiences → suppression → rendered messages.

The one entry point delivery and orchestration call (see activations/README.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
from jinja2 import UndefinedError

from activations.audiences.build import AudienceSummary, compute_audiences, write_audiences
from activations.audiences.messages import (
    ChannelBatch,
    Message,
    MessageList,
    PreparedCampaign,
    PreparedCampaigns,
    send_id_for,
)
from activations.audiences.suppression import (
    apply_suppression,
    load_event_suppressions,
    load_ledger,
    load_suppression_list,
    write_suppressions,
)
from activations.plan.spec import CONSENT_COLUMN, Plan, coerce_plan
from activations.plan.templates import CampaignRenderer, pick_language, sms_cost, sms_segments


def send_clock(send_date: date, timezone: str = "Asia/Bangkok") -> datetime:
    """The time the sends of a send date happen: now, or 02:00 local on the send date for a
    backfill / replay / preview of another day (it decides SMS quiet hours)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(timezone)
    now = datetime.now(tz)
    return (
        now
        if now.date() == send_date
        else datetime(send_date.year, send_date.month, send_date.day, 2, 0, tzinfo=tz)
    )


FIELD_KEYS = ("first_name", "last_name", "email", "phone", "address", "district", "province", "postal_code")


def _none(start: int, stop: int) -> list[Message]:
    return []


class MessageFactory:
    """Renders one campaign × channel's eligible rows into Messages, any range on demand.

    Keeps only the columns the channel needs (pandas' compact string columns), so a
    `MessageList` over it stays small however many recipients there are."""

    def __init__(self, plan: Plan, campaign_id: str, channel: str, eligible: pd.DataFrame, send_date: date):
        self.plan = plan
        self.campaign = plan.campaign(campaign_id)
        self.channel = channel
        self.send_date = send_date
        self.renderer = CampaignRenderer(plan, self.campaign, send_date)
        wanted = {"customer_id", *FIELD_KEYS, *self.renderer.profile_fields(channel)}
        cols: dict[str, pd.Series] = {"_to": eligible["address"]}
        if "not_before" in eligible:
            cols["_not_before"] = eligible["not_before"]
        for name in sorted(wanted):
            # the audience's `address` is the channel address; the profile's postal address is address_profile
            src = f"{name}_profile" if f"{name}_profile" in eligible else name
            if src in eligible:
                cols[name] = eligible[src]
        self._len = len(eligible)
        # pyarrow arrays: compact, and slices convert to Python objects in C (nulls → None)
        self.columns: dict[str, Any] = {}
        for name, series in cols.items():
            if name == "_not_before":
                self.columns[name] = series.tolist()
            else:
                series = series.reset_index(drop=True)
                try:
                    self.columns[name] = pa.Array.from_pandas(series)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    self.columns[name] = pa.Array.from_pandas(series.astype("string"))
        senders = plan.senders
        if channel == "email":
            self._static = {
                "sender": senders.email.address,
                "sender_name": senders.email.name,
                "unsubscribe_group": self.campaign.email_unsubscribe_group,
            }
        elif channel == "sms":
            self._static = {"sender": senders.sms.messaging_service_sid or senders.sms.sender_id,
                            "sender_name": senders.sms.sender_id}  # fmt: skip
        elif channel == "ads":
            self._static = {"subject": self.campaign.content["ads"].audience_name}
        else:
            self._static = {}

    def __len__(self) -> int:
        return self._len

    def render_range(self, start: int, stop: int) -> list[Message]:
        stop = min(stop, self._len)
        columns = {
            c: (arr[start:stop] if isinstance(arr, list) else arr.slice(start, stop - start).to_pylist())
            for c, arr in self.columns.items()
        }
        plan, channel, cid_campaign, send_date = self.plan, self.channel, self.campaign.id, self.send_date
        day = send_date.isoformat()
        out: list[Message] = []
        for i in range(stop - start):
            row = {c: vals[i] for c, vals in columns.items()}
            cid = str(row["customer_id"])
            lang = pick_language(plan, row.get("first_name"))
            try:
                content = self.renderer.render(channel, row, lang)
            except UndefinedError as exc:
                raise LookupError(
                    f"campaign {cid_campaign!r} channel {channel!r} customer {cid}: template needs a value the "
                    f"profile lacks: {exc.message}"
                ) from None
            fields = {k: row.get(k) for k in FIELD_KEYS}
            fields["country"] = "TH"
            sid = send_id_for(cid_campaign, cid, channel, send_date)
            kw: dict[str, Any] = dict(self._static)
            if channel == "email":
                kw.update(subject=content["subject"], text=content["text"], html=content["html"])
            elif channel == "sms":
                body = content["body"]
                count = sms_segments(body)
                kw.update(sms_body=body, sms_segments=count.segments, sms_encoding=count.encoding)
            elif channel == "phone":
                kw["text"] = content["script"]
            elif channel == "direct_mail":
                kw["text"] = content["letter"]
            nb = row.get("_not_before")
            out.append(
                Message(
                    campaign_id=cid_campaign,
                    customer_id=cid,
                    channel=channel,
                    send_date=send_date,
                    to=str(row["_to"]),
                    not_before=nb if isinstance(nb, datetime) else None,
                    custom_args={
                        "campaign_id": cid_campaign,
                        "send_id": sid,
                        "customer_id": cid,
                        "channel": channel,
                        "send_date": day,
                    },
                    language=lang,
                    fields=fields,
                    **kw,
                )
            )
        return out

    def messages(self) -> MessageList:
        return MessageList(len(self), self.render_range)


def build_messages(
    plan: Plan, campaign_id: str, channel: str, eligible: pd.DataFrame, send_date: date
) -> MessageList:
    """Pure: one campaign × channel's eligible rows → a lazily rendered MessageList."""
    return MessageFactory(plan, campaign_id, channel, eligible, send_date).messages()


@dataclass
class AudienceFrames:
    """Everything a send date's messages are made of, computed once (no rendering yet).

    `audience`: every audience row (holdout and suppressed included); `eligible`: the rows that
    will be sent, with the profile columns the templates and delivery read; `suppressed`: one row
    per suppressed person × campaign × channel with its reason; `summary`: the audience counts
    and the day's memberships; `suppressed_counts`: {(campaign, channel): {reason: n}}."""

    as_of: date
    send_date: date
    audience: pd.DataFrame
    eligible: pd.DataFrame
    suppressed: pd.DataFrame
    summary: AudienceSummary
    suppressed_counts: dict[tuple[str, str], dict[str, int]]
    gate_frame: pd.DataFrame  # the audience gate's input (campaign, customer, channel, holdout, address, consent, suppression_reason)


def _gate_frame(audience: pd.DataFrame, profiles: pd.DataFrame, suppressed: pd.DataFrame) -> pd.DataFrame:
    """The audience gate's frame (activations.audiences.gate.REQUIRED_COLUMNS + suppression_reason)."""
    cols = ["campaign_id", "customer_id", "channel", "holdout", "address", "consent", "suppression_reason"]
    if audience.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    df = audience[["campaign_id", "customer_id", "channel", "holdout", "address"]].copy()
    df["customer_id"] = df["customer_id"].astype(str)
    prof = profiles.drop_duplicates("customer_id").set_index(
        profiles["customer_id"].astype(str).drop_duplicates()
    )
    consent = pd.Series("unknown", index=df.index, dtype=object)
    for ch, col in CONSENT_COLUMN.items():
        if col in prof:
            mask = df["channel"] == ch
            consent[mask] = df.loc[mask, "customer_id"].map(prof[col]).fillna("unknown").to_numpy()
    df["consent"] = consent
    if len(suppressed):
        sup = suppressed.drop_duplicates(["campaign_id", "customer_id", "channel"])
        sup = sup.assign(customer_id=sup["customer_id"].astype(str))
        df = df.merge(
            sup[["campaign_id", "customer_id", "channel", "reason"]].rename(
                columns={"reason": "suppression_reason"}
            ),
            on=["campaign_id", "customer_id", "channel"],
            how="left",
        )
    else:
        df["suppression_reason"] = None
    return df[cols].reset_index(drop=True)


def compute_frames(
    con: duckdb.DuckDBPyConnection,
    plan: Plan,
    as_of: date,
    send_date: date,
    now: datetime,
    lake_dir: Path,
    *,
    progress: Callable[[str], None] | None = None,
    statuses: tuple[str, ...] = ("active",),
) -> AudienceFrames:
    """Audiences, suppression and the eligible rows of a send date (reads only; `now` decides quiet hours)."""
    if now.tzinfo is None:
        raise ValueError("prepare_messages: `now` must be timezone-aware")
    t0 = time.perf_counter()
    audience, profiles_by_campaign, summary = compute_audiences(
        con, plan, as_of, send_date, progress, statuses, lake_dir=lake_dir
    )
    slist = pd.concat([load_suppression_list(con), load_event_suppressions(lake_dir)], ignore_index=True)
    window = plan.frequency_cap.window_days
    ledger = load_ledger(con, send_date - timedelta(days=window), send_date)
    frames = [p for p in profiles_by_campaign.values() if not p.empty]
    profiles = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"customer_id": []})
    result = apply_suppression(audience, profiles, plan, send_date, now, slist, ledger)
    if progress:
        progress(
            f"audiences: {len(audience)} rows, {int(audience['holdout'].sum())} held out, "
            f"{len(result.suppressed)} suppressed, {len(result.eligible)} eligible "
            f"({time.perf_counter() - t0:.1f}s)"
        )
    return AudienceFrames(
        as_of=as_of,
        send_date=send_date,
        audience=audience,
        eligible=result.eligible,
        suppressed=result.suppressed,
        summary=summary,
        suppressed_counts={k: dict(v) for k, v in result.counts.items()},
        gate_frame=_gate_frame(audience, profiles, result.suppressed),
    )


def write_frames(con: duckdb.DuckDBPyConnection, frames: AudienceFrames) -> None:
    """The audit tables of a send date: audiences (+ snapshot), memberships, suppressions."""
    write_audiences(con, frames.audience, frames.send_date, frames.summary.memberships)
    write_suppressions(con, frames.suppressed, frames.send_date)


def assemble(
    plan: Plan,
    as_of: date,
    send_date: date,
    counts: dict[str, dict[str, dict[str, int]]],
    suppressed_counts: dict[tuple[str, str], dict[str, int]],
    eligible: pd.DataFrame,
    progress: Callable[[str], None] | None = None,
) -> PreparedCampaigns:
    """Pure: counts + eligible rows → PreparedCampaigns (messages render lazily from `eligible`)."""
    prepared = PreparedCampaigns(as_of=as_of, send_date=send_date)
    groups = dict(tuple(eligible.groupby(["campaign_id", "channel"], sort=False))) if len(eligible) else {}
    price = plan.sms.price_per_segment
    for camp in plan.campaigns:
        pc = PreparedCampaign(
            campaign_id=camp.id, name=camp.name, active=camp.id in counts, currency=plan.currency
        )
        prepared.campaigns[camp.id] = pc
        if not pc.active:
            continue
        for ch in camp.channels:
            c = counts[camp.id][ch]
            rows = groups.get((camp.id, ch))
            msgs = (
                build_messages(plan, camp.id, ch, rows, send_date)
                if rows is not None
                else MessageList(0, _none)
            )
            sample = msgs[0] if len(msgs) else None  # renders one now: a template error surfaces here
            batch = ChannelBatch(
                campaign_id=camp.id,
                channel=ch,
                audience=c["audience"],
                holdout=c["holdout"],
                suppressed=dict(suppressed_counts.get((camp.id, ch), {})),
                messages=msgs,
                queued=int(rows["not_before"].notna().sum()) if rows is not None and ch == "sms" else 0,
                sample=sample,
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


def prepare_messages(
    warehouse_path: str | Path,
    plan: Plan | str | Path,
    as_of: date,
    send_date: date,
    now: datetime,
    *,
    progress: Callable[[str], None] | None = None,
    lake_dir: str | Path | None = None,
) -> PreparedCampaigns:
    """Build audiences, suppress, render. Writes activations.campaign_audiences (+ snapshot),
    activations.campaign_memberships (the day's entries) and activations.campaign_suppressions;
    returns the messages per campaign × channel with counts.

    Suppression list = `activations.suppression_list` (delivery's permanent errors) plus provider
    feedback in the lake (`lake_dir`, default `<warehouse folder>/lake`: hard bounces, spam
    reports, STOP / invalid / landline SMS errors)."""
    plan = coerce_plan(plan)
    t0 = time.perf_counter()
    lake = Path(lake_dir) if lake_dir is not None else Path(warehouse_path).parent / "lake"
    con = duckdb.connect(str(warehouse_path))
    try:
        frames = compute_frames(con, plan, as_of, send_date, now, lake, progress=progress)
        write_frames(con, frames)
    finally:
        con.close()
    prepared = assemble(
        plan, as_of, send_date, frames.summary.counts, frames.suppressed_counts, frames.eligible, progress
    )
    prepared.elapsed_seconds = time.perf_counter() - t0
    return prepared
