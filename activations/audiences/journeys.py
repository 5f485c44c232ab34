"""Journeys: who enters each campaign on a send date, and which follow-ups fall due.

A campaign is something a person enters once, for a reason, and leaves (docs/DOMAIN.md). The daily
audience is the people who ENTER on the send date plus the follow-ups due that day, never the
whole segment. Entry is decided from warehouse facts as of the run (first completed order,
registration, rank history, days since the last order, campaign responses and earlier
memberships); re-entry is judged against `activations.campaign_memberships`, which the audiences
stage alone writes (one row per person × campaign × entry).

Idempotent per send date: the entries of send date S are decided against the memberships of
every OTHER send date, and writing S replaces S's rows. So a rerun, a crash-and-rerun or a
backfill over a range gives the same memberships as one clean pass.

`decide_entries` and `due_follow_ups` are pure (DataFrames in, DataFrames out); the loaders and
`write_memberships` do the I/O.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from activations.audiences.tables import AUDIENCE_SNAPSHOTS, AUDIENCE_SNAPSHOTS_TABLE, SCHEMA
from activations.plan.spec import LIST_CHANNELS_SQL, THRESHOLD_EVENT_DATES, Campaign
from sources.lake import entity_files


def holdout_score(campaign_id: str, customer_id: str) -> float:
    """A stable number in [0, 1) per (campaign, customer): same inputs, same number, every run."""
    digest = hashlib.sha256(f"{campaign_id}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_holdout(campaign_id: str, customer_id: str, share: float) -> bool:
    return share > 0 and holdout_score(campaign_id, customer_id) < share


MEMBERSHIP_TABLE = "activations.campaign_memberships"
MEMBERSHIP_COLUMNS = [
    "campaign_id", "customer_id", "entered_on", "as_of", "event_date", "entry_reason", "holdout",
    "first_send", "follow_ups", "exits_on", "exit_reason", "reentry_from",
]  # fmt: skip
MEMBERSHIP_DDL = f"""
CREATE TABLE IF NOT EXISTS {MEMBERSHIP_TABLE} (
    campaign_id VARCHAR, customer_id VARCHAR, entered_on DATE, as_of DATE, event_date DATE,
    entry_reason VARCHAR, holdout BOOLEAN, first_send VARCHAR, follow_ups VARCHAR, exits_on DATE,
    exit_reason VARCHAR, reentry_from DATE
)"""
RESPONSE_COLUMNS = ["campaign_id", "customer_id", "responded_on"]
RANK_HISTORY_COLUMNS = ["customer_id", "as_of", "rank"]
EVENT_COLUMNS = {
    "first_order": "first_order_at",
    "registration": "registered_at",
    **{f"threshold:{k}": v for k, v in THRESHOLD_EVENT_DATES.items()},
}
"""Profile column each event's date comes from (rank_change and responses use other tables)."""
RESPONSE_EMAIL_EVENTS = ("open", "click")
"""Email events that count as a response (with any row of campaign_responses: RSVP, applied, ...)."""


def empty_memberships() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in MEMBERSHIP_COLUMNS})


def profile_event_columns(campaign: Campaign) -> set[str]:
    """Profile columns the campaign's trigger reads (selected with the segment)."""
    t = campaign.trigger
    if t is None:
        return set()
    if t.event == "threshold":
        return {c.date_column() for c in t.crossings()}
    return {EVENT_COLUMNS[t.event]} if t.event in EVENT_COLUMNS else set()


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, errors="coerce").dt.normalize()


def _event_dates(
    campaign: Campaign,
    segment: pd.DataFrame,
    as_of: date,
    rank_history: pd.DataFrame,
    responses: pd.DataFrame,
    memberships: pd.DataFrame,
) -> pd.Series:
    """Per segment member (index aligned with `segment`): the date of the trigger event, NaT when none."""
    t = campaign.trigger
    assert t is not None
    ids = segment["customer_id"].astype(str)
    if t.event in ("first_order", "registration"):
        col = EVENT_COLUMNS[t.event]
        if col not in segment:
            raise LookupError(
                f"campaign {campaign.id!r}: trigger {t.event!r} needs marts.customer_profiles.{col}, "
                "which the warehouse lacks"
            )
        return _dates(segment[col])
    if t.event == "threshold":  # the earliest of its crossings (one lapse is one event)
        dates = []
        for c in t.crossings():
            col = c.date_column()
            if col not in segment:
                raise LookupError(
                    f"campaign {campaign.id!r}: threshold trigger needs marts.customer_profiles.{col}"
                )
            if c.field in THRESHOLD_EVENT_DATES:  # the field grows by a day a day from its column's date
                days = int(c.value) + (1 if c.op == ">" else 0)
                dates.append(_dates(segment[col]) + pd.Timedelta(days=days))
            else:  # the warehouse records the crossing day itself
                dates.append(_dates(segment[col]))
        return pd.concat(dates, axis=1).min(axis=1, skipna=True)
    if t.event == "rank_change":
        h = rank_history.copy()
        h["as_of"] = _dates(h["as_of"])
        h = h[h["as_of"] <= pd.Timestamp(as_of)].sort_values(["customer_id", "as_of"])
        prev = h.groupby("customer_id")["rank"].shift(1)
        became = h[(h["rank"] == t.to) & prev.notna() & (prev != t.to)]
        last = became.groupby("customer_id")["as_of"].max()
        return ids.map(last).astype("datetime64[ns]")
    if t.event == "response":
        r = responses[responses["campaign_id"] == t.campaign]
        first = _dates(r["responded_on"]).groupby(r["customer_id"].astype(str)).min()
        return ids.map(first).astype("datetime64[ns]")
    # no_response: members of the other campaign, after_days after their entry, who did not respond
    m = memberships[memberships["campaign_id"] == t.campaign].copy()
    m["entered_on"] = _dates(m["entered_on"])
    m = m.sort_values("entered_on").groupby(m["customer_id"].astype(str)).tail(1)
    m["due"] = m["entered_on"] + pd.Timedelta(days=t.after_days)
    m = m[m["due"] <= pd.Timestamp(as_of)]
    responded = _responded(m, responses, t.campaign, as_of)
    m = m[~responded.to_numpy()]
    due = pd.Series(m["due"].to_numpy(), index=m["customer_id"].astype(str).to_numpy())
    return ids.map(due).astype("datetime64[ns]")


def _responded(members: pd.DataFrame, responses: pd.DataFrame, campaign_id: str, as_of: date) -> pd.Series:
    """Per member row: a response to `campaign_id` on or after its entry and on or before as_of."""
    if members.empty:
        return pd.Series(False, index=members.index)
    r = responses[responses["campaign_id"] == campaign_id][["customer_id", "responded_on"]].copy()
    r["customer_id"] = r["customer_id"].astype(str)
    r["responded_on"] = _dates(r["responded_on"])
    r = r[r["responded_on"] <= pd.Timestamp(as_of)]
    left = pd.DataFrame(
        {
            "customer_id": members["customer_id"].astype(str).to_numpy(),
            "entered_on": _dates(members["entered_on"]),
        }
    ).reset_index(drop=True)
    left["_row"] = range(len(left))
    j = left.merge(r, on="customer_id", how="inner")
    hit = set(j.loc[j["responded_on"] >= j["entered_on"], "_row"])
    return pd.Series([i in hit for i in range(len(left))], index=members.index)


def decide_entries(
    campaign: Campaign,
    segment: pd.DataFrame,
    as_of: date,
    send_date: date,
    memberships: pd.DataFrame,
    rank_history: pd.DataFrame,
    responses: pd.DataFrame,
) -> pd.DataFrame:
    """Pure: the people of `segment` (profiles as of D) who enter `campaign` on `send_date`.

    `memberships` are the stored memberships (any campaign); rows entered on `send_date` itself
    are ignored, so deciding a day again gives the same answer. Returns MEMBERSHIP_COLUMNS."""
    if segment.empty or not campaign.active_on(send_date):
        return empty_memberships()
    seg = segment.reset_index(drop=True)
    ids = seg["customer_id"].astype(str)
    S = pd.Timestamp(send_date)
    if campaign.kind == "trigger":
        t = campaign.trigger
        ev = _event_dates(campaign, seg, as_of, rank_history, responses, memberships).reset_index(drop=True)
        age = (S - ev).dt.days
        ok = ev.notna() & (ev <= pd.Timestamp(as_of)) & (age >= t.delay_days) & (age <= t.entry_window_days)
        reason = t.describe()
    elif campaign.kind == "broadcast":
        ev = pd.Series(pd.Timestamp(campaign.send_on), index=seg.index)
        ok = pd.Series(send_date == campaign.send_on, index=seg.index)
        reason = f"broadcast wave of {campaign.send_on} ({campaign.segment.describe()})"
    else:
        ev = pd.Series(S, index=seg.index)
        ok = pd.Series(True, index=seg.index)
        reason = campaign.segment.describe()
    mine = memberships[(memberships["campaign_id"] == campaign.id)].copy()
    mine["entered_on"] = _dates(mine["entered_on"])
    mine["event_date"] = _dates(mine["event_date"])
    mine = mine[mine["entered_on"] != S]
    if not mine.empty and ok.any():
        mine["customer_id"] = mine["customer_id"].astype(str)
        blocked_ids: set[str] = set()
        cool = campaign.reentry_days()
        if campaign.kind == "broadcast" or cool is None:
            blocked_ids = set(mine["customer_id"])  # once ever
        else:
            near = (mine["entered_on"] - S).abs().dt.days < cool
            blocked_ids = set(mine.loc[near, "customer_id"])
        same_event = set(zip(mine["customer_id"], mine["event_date"], strict=True))  # an event enters once
        ev_pairs = pd.Series(list(zip(ids, ev, strict=True)), index=seg.index)
        ok = ok & ~ids.isin(blocked_ids) & ~ev_pairs.isin(same_event)
    chosen = seg[ok.to_numpy()]
    if chosen.empty:
        return empty_memberships()
    cids = chosen["customer_id"].astype(str).tolist()
    evd = ev[ok.to_numpy()].dt.date.tolist()
    exits = send_date + timedelta(days=campaign.journey_days)
    exit_reason = "journey complete"
    if exits > campaign.end_date:
        exits, exit_reason = campaign.end_date, "campaign ends"
    cool = campaign.reentry_days()
    out = pd.DataFrame(
        {
            "campaign_id": campaign.id,
            "customer_id": cids,
            "entered_on": send_date,
            "as_of": as_of,
            "event_date": evd,
            "entry_reason": [f"{reason} on {d}" if campaign.kind == "trigger" else reason for d in evd],
            "holdout": [is_holdout(campaign.id, c, campaign.holdout_share) for c in cids],
            "first_send": ",".join(campaign.first_channels),
            "follow_ups": ",".join(f"{f.channel}+{f.after_days}d:{f.to}" for f in campaign.follow_ups)
            or None,
            "exits_on": exits,
            "exit_reason": exit_reason,
            "reentry_from": None
            if cool is None or campaign.kind == "broadcast"
            else send_date + timedelta(days=cool),
        }
    )
    return out[MEMBERSHIP_COLUMNS]


def due_follow_ups(
    campaign: Campaign, send_date: date, as_of: date, memberships: pd.DataFrame, responses: pd.DataFrame
) -> pd.DataFrame:
    """Pure: (customer_id, channel, reason, holdout) of the follow-ups due on `send_date`."""
    cols = ["customer_id", "channel", "reason", "holdout"]
    if not campaign.follow_ups or not campaign.active_on(send_date):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    mine = memberships[memberships["campaign_id"] == campaign.id].copy()
    mine["entered_on"] = _dates(mine["entered_on"])
    frames = []
    for fu in campaign.follow_ups:
        entered = pd.Timestamp(send_date - timedelta(days=fu.after_days))
        due = mine[mine["entered_on"] == entered]
        if due.empty:
            continue
        if fu.to == "non_responders":
            due = due[~_responded(due, responses, campaign.id, as_of).to_numpy()]
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": due["customer_id"].astype(str).to_numpy(),
                    "channel": fu.channel,
                    "reason": f"follow-up {fu.after_days} days after entry on {entered.date()} ({fu.to})",
                    "holdout": due["holdout"].astype(bool).to_numpy(),
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    return pd.concat(frames, ignore_index=True)[cols]


# ---------------------------------------------------------------------------------------------
# I/O


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()[0][0]
    )


def load_memberships(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    if not _table_exists(con, "activations", "campaign_memberships"):
        return empty_memberships()
    return con.execute(f"SELECT {', '.join(MEMBERSHIP_COLUMNS)} FROM {MEMBERSHIP_TABLE}").df()


def load_rank_history(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    if not _table_exists(con, "marts", "customer_rank_history"):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in RANK_HISTORY_COLUMNS})
    return con.execute(
        "SELECT customer_id, CAST(as_of AS DATE) AS as_of, rank FROM marts.customer_rank_history "
        "WHERE CAST(as_of AS DATE) <= ?",
        [as_of],
    ).df()


def load_responses(lake_dir: str | Path | None, as_of: date) -> pd.DataFrame:
    """Campaign responses (RSVP, applied, ...) and email opens/clicks per campaign × customer, from
    the lake partitions loaded on or before D (the provider feedback the webhooks landed): the
    first response date of each person to each campaign."""
    empty = pd.DataFrame({c: pd.Series(dtype="object") for c in RESPONSE_COLUMNS})
    if lake_dir is None:
        return empty
    lake = Path(lake_dir)
    parts, params = [], []
    con = duckdb.connect()
    try:
        for entity, where, needed in (
            ("campaign_responses", "TRUE", {"campaign_id", "customer_id", "occurred_at"}),
            (
                "email_events",
                "lower(event) IN ({})".format(", ".join(f"'{e}'" for e in RESPONSE_EMAIL_EVENTS)),
                {"campaign_id", "customer_id", "occurred_at", "event"},
            ),
        ):
            files = entity_files(lake, entity, up_to=as_of)
            if not files:
                continue
            cols = {
                r[0]
                for r in con.execute(
                    "DESCRIBE SELECT * FROM read_parquet(?, union_by_name = true)", [files]
                ).fetchall()
            }
            if not needed <= cols:  # files without campaign attribution cannot be a response to one
                continue
            parts.append(
                "SELECT CAST(campaign_id AS VARCHAR) AS campaign_id, CAST(customer_id AS VARCHAR) AS customer_id, "
                f"CAST(occurred_at AS DATE) AS responded_on FROM read_parquet(?, union_by_name = true) WHERE {where}"
            )
            params.append(files)
    finally:
        con.close()
    if not parts:
        return empty
    con = duckdb.connect()
    try:
        return con.execute(
            f"SELECT campaign_id, customer_id, min(responded_on) AS responded_on FROM ({' UNION ALL '.join(parts)}) "
            "WHERE campaign_id IS NOT NULL AND customer_id IS NOT NULL AND responded_on <= ? GROUP BY ALL",
            [*params, as_of],
        ).df()
    finally:
        con.close()


def write_memberships(con: duckdb.DuckDBPyConnection, entries: pd.DataFrame, send_date: date) -> None:
    """Replace the memberships entered on `send_date` (call inside the audiences' transaction)."""
    df = entries[MEMBERSHIP_COLUMNS]  # noqa: F841 - referenced by name in SQL
    con.execute("CREATE SCHEMA IF NOT EXISTS activations")
    con.execute(MEMBERSHIP_DDL)
    con.execute(f"DELETE FROM {MEMBERSHIP_TABLE} WHERE entered_on = ?", [send_date])
    if len(entries):
        con.execute(f"INSERT INTO {MEMBERSHIP_TABLE} SELECT {', '.join(MEMBERSHIP_COLUMNS)} FROM df")


def _reached_sql(with_lists: bool, with_suppressions: bool) -> str:
    """Who a campaign (parameter 1) reached, per send date: the ledger's emails and SMS not failed
    and, with `with_lists`, everyone on its handed-over lists (call and mail lists, ad audiences:
    the snapshot's rows of those channels, not held out and, once delivery has recorded them, not
    suppressed)."""
    ledger = "SELECT customer_id, send_date FROM activations.send_ledger WHERE campaign_id = $1 AND status <> 'failed'"
    if not with_lists:
        return ledger
    suppressed = (
        """AND NOT EXISTS (SELECT 1 FROM activations.campaign_suppressions s
                          WHERE s.campaign_id = a.campaign_id AND s.customer_id = a.customer_id
                            AND s.channel = a.channel AND s.send_date = a.send_date)"""
        if with_suppressions
        else ""
    )
    return f"""{ledger}
        UNION ALL
        SELECT a.customer_id, a.send_date FROM {AUDIENCE_SNAPSHOTS_TABLE} a
        WHERE a.campaign_id = $1 AND a.channel IN ({LIST_CHANNELS_SQL}) AND NOT coalesce(a.holdout, false) {suppressed}"""


def journey_day_summary(warehouse_path: str | Path, plan, send_date: date) -> list[dict]:
    """Per campaign, what a send date did (read-only): state (`active`, `ended`, `draft`, `starts
    on …`), people who entered, follow-up rows due, people sent to (ledger rows of the day not
    failed, and the people on its handed-over call, mail and ad lists), and repeats: people whose
    entry send today follows an earlier send of the same campaign (a re-entry; 0 where the rules
    say once). Follow-ups inside a journey are not repeats."""
    rows: list[dict] = []
    path = Path(warehouse_path)
    con = duckdb.connect(str(path), read_only=True) if path.exists() else None
    try:
        has_m = con is not None and _table_exists(con, "activations", "campaign_memberships")
        has_l = con is not None and _table_exists(con, "activations", "send_ledger")
        has_a = con is not None and _table_exists(con, SCHEMA, AUDIENCE_SNAPSHOTS)
        for camp in plan.campaigns:
            if camp.status != "active":
                state = camp.status
            elif send_date > camp.end_date:
                state = "ended"
            elif send_date < camp.start_date:
                state = f"starts on {camp.start_date}"
            else:
                state = "active"
            entered = follow_ups = sent = repeats = 0
            if has_m:
                entered = con.execute(
                    f"SELECT count(*) FROM {MEMBERSHIP_TABLE} WHERE campaign_id = ? AND entered_on = ?",
                    [camp.id, send_date],
                ).fetchall()[0][0]
            if has_a:
                follow_ups = con.execute(
                    f"SELECT count(*) FROM {AUDIENCE_SNAPSHOTS_TABLE} WHERE campaign_id = ? AND send_date = ? "
                    "AND reason_included LIKE 'follow-up %'",
                    [camp.id, send_date],
                ).fetchall()[0][0]
            if has_l:
                reached = _reached_sql(has_a, _table_exists(con, "activations", "campaign_suppressions"))
                members = (
                    MEMBERSHIP_TABLE
                    if has_m
                    else "(SELECT NULL AS campaign_id, NULL AS customer_id, NULL AS entered_on)"
                )
                sent, repeats = con.execute(
                    f"""WITH reached AS ({reached})
                        SELECT count(DISTINCT r.customer_id),
                               count(DISTINCT CASE WHEN m.customer_id IS NOT NULL AND EXISTS (
                                   SELECT 1 FROM reached e WHERE e.customer_id = r.customer_id
                                   AND e.send_date < r.send_date) THEN r.customer_id END)
                        FROM reached r
                        LEFT JOIN {members} m
                          ON m.campaign_id = $1 AND m.customer_id = r.customer_id AND m.entered_on = r.send_date
                        WHERE r.send_date = $2""",
                    [camp.id, send_date],
                ).fetchall()[0]
            rows.append(
                {
                    "campaign_id": camp.id,
                    "kind": camp.kind,
                    "state": state,
                    "entered": int(entered),
                    "follow_ups": int(follow_ups),
                    "sent": int(sent),
                    "repeats": int(repeats),
                }
            )
    finally:
        if con is not None:
            con.close()
    return rows
