"""Campaign audiences: who is in each campaign × channel on a send date, who is held out, and why.

`build_audiences` reads `marts.customer_profiles`, selects each sending campaign's segment with
parameterised SQL compiled from the plan, keeps the people who ENTER the campaign that day
(`journeys.decide_entries`: trigger events, the broadcast date, re-entry rules) plus the
follow-ups due that day, expands them to one row per channel with the address that channel
needs, flags the holdout (a stable hash of campaign id and customer id), and writes
`activations.campaign_audiences` (replaced every run), `activations.campaign_audience_snapshots` (one
snapshot per send date, replaced when that send date is rerun) and the day's entries in
`activations.campaign_memberships`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from activations.audiences.journeys import (
    decide_entries,
    due_follow_ups,
    empty_memberships,
    holdout_score,  # noqa: F401 - re-exported
    is_holdout,
    load_memberships,
    load_rank_history,
    load_responses,
    profile_event_columns,
    write_memberships,
)
from activations.audiences.send_times import HOUR_COLUMN, SCHEDULED_CHANNELS, send_time_arm
from activations.audiences.tables import (
    AUDIENCE_COLUMNS,
    AUDIENCE_DDL,
    AUDIENCE_SNAPSHOTS,
    AUDIENCE_SNAPSHOTS_TABLE,
    AUDIENCES,
    AUDIENCES_TABLE,
    LEGACY_SCHEMA,
    SCHEMA,
)
from activations.plan.spec import (
    PROFILE_COLUMNS,
    Campaign,
    Plan,
    coerce_plan,
    compile_segment,
    template_fields,
)

REQUIRED_PROFILE_COLUMNS = (
    "customer_id", "rank", "first_name", "last_name", "email", "phone", "has_valid_email", "has_valid_mobile",
    "has_postal_address", "address", "district", "province", "postal_code",
    "consent_email", "consent_sms", "consent_phone", "consent_dm", "consent_ads",
)  # fmt: skip

Progress = Callable[[str], None]


def postal_line(row: dict[str, Any]) -> str | None:
    """One-line postal address, or None when there is no street address."""
    addr = row.get("address")
    if not isinstance(addr, str) or not addr.strip():
        return None
    parts = [addr.strip()]
    for key in ("district", "province"):
        v = row.get(key)
        if isinstance(v, str) and v.strip():
            parts.append(v.strip())
    line = " ".join(parts)
    pc = row.get("postal_code")
    if isinstance(pc, str) and pc.strip():
        line = f"{line} {pc.strip()}"
    return line


def _str_or_none(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    s = str(v).strip()
    return s or None


def channel_address(channel: str, row: dict[str, Any]) -> str | None:
    if channel == "email":
        e = _str_or_none(row.get("email"))
        return e.lower() if e else None
    if channel in ("sms", "phone"):
        return _str_or_none(row.get("phone"))
    if channel == "direct_mail":
        return postal_line(row)
    if channel == "ads":
        e = _str_or_none(row.get("email"))
        return e.lower() if e else _str_or_none(row.get("phone"))
    raise ValueError(f"unknown channel {channel!r}")


def _text_col(profiles: pd.DataFrame, col: str) -> pd.Series:
    if col not in profiles:
        return pd.Series(pd.NA, index=profiles.index, dtype="string")
    s = profiles[col].astype("string").str.strip()
    return s.mask(s.eq(""))


def channel_addresses(profiles: pd.DataFrame, channel: str) -> pd.Series:
    """Vectorised `channel_address` over a profiles frame (missing → None)."""
    if channel == "email":
        out = _text_col(profiles, "email").str.lower()
    elif channel in ("sms", "phone"):
        out = _text_col(profiles, "phone")
    elif channel == "ads":
        email = _text_col(profiles, "email").str.lower()
        out = email.where(email.notna(), _text_col(profiles, "phone"))
    elif channel == "direct_mail":
        out = _text_col(profiles, "address")
        for col in ("district", "province", "postal_code"):
            part = _text_col(profiles, col)
            out = out.where(part.isna(), out + " " + part)
    else:
        raise ValueError(f"unknown channel {channel!r}")
    return out.astype(object).where(out.notna(), None)


def expand_audience(
    profiles: pd.DataFrame,
    campaign: Campaign,
    as_of: date,
    send_date: date,
    channels: list[str] | None = None,
    reasons: list[str] | str | None = None,
) -> pd.DataFrame:
    """Pure: members (already selected) → one row per member × channel (AUDIENCE_COLUMNS).

    `channels` default: all of the campaign's; `reasons` (one per member, or one for all) default:
    the segment's description."""
    if profiles.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in AUDIENCE_COLUMNS}).astype(
            {"holdout": "bool"}
        )
    ids = profiles["customer_id"].astype(str).tolist()
    hold = [is_holdout(campaign.id, cid, campaign.holdout_share) for cid in ids]
    arm = [None if h else send_time_arm(campaign, cid) for cid, h in zip(ids, hold, strict=True)]
    if reasons is None:
        reasons = campaign.segment.describe()
    reason = pd.Categorical([reasons] * len(ids) if isinstance(reasons, str) else list(reasons))
    frames = []
    for ch in channels if channels is not None else campaign.channels:
        frames.append(
            pd.DataFrame(
                {
                    "campaign_id": campaign.id,
                    "customer_id": ids,
                    "channel": ch,
                    "holdout": hold,
                    "reason_included": reason,
                    "address": channel_addresses(profiles, ch).to_numpy(dtype=object),
                    "as_of": as_of,
                    "send_date": send_date,
                    "send_time_arm": arm if ch in SCHEDULED_CHANNELS else [None] * len(ids),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["holdout"] = out["holdout"].astype(bool)
    out["reason_included"] = out["reason_included"].astype(str)
    arms = out["send_time_arm"].astype(object)
    out["send_time_arm"] = arms.where(arms.notna(), None)
    return out[AUDIENCE_COLUMNS]


def profile_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'marts' AND table_name = 'customer_profiles' ORDER BY ordinal_position"
    ).fetchall()
    if not rows:
        raise LookupError(
            "marts.customer_profiles does not exist in the warehouse (run the dbt models first)"
        )
    cols = [r[0] for r in rows]
    missing = [c for c in REQUIRED_PROFILE_COLUMNS if c not in cols]
    if missing:
        raise LookupError(f"marts.customer_profiles lacks column(s) {missing} that activations need")
    return cols


def _profile_select(
    con: duckdb.DuckDBPyConnection, campaign: Campaign, columns: list[str] | None, fields: set[str] | None
) -> tuple[list[str], list[str]]:
    cols = columns or profile_columns(con)
    needed = {
        *REQUIRED_PROFILE_COLUMNS,
        "as_of",
        *profile_event_columns(campaign),
        HOUR_COLUMN,  # send_times.py: personal send times (read whenever the warehouse has it)
        *(template_fields(campaign) if fields is None else fields),
    }
    return cols, [c for c in cols if c in PROFILE_COLUMNS and c in needed]


def _as_of_filter(cols: list[str]) -> str:
    if "as_of" not in cols:
        return ""
    return (
        ' AND ("as_of" IS NULL OR CAST("as_of" AS DATE) = '
        '(SELECT max(CAST("as_of" AS DATE)) FROM marts.customer_profiles WHERE CAST("as_of" AS DATE) <= ?))'
    )


def select_segment(
    con: duckdb.DuckDBPyConnection,
    campaign: Campaign,
    as_of: date,
    columns: list[str] | None = None,
    fields: set[str] | None = None,
) -> pd.DataFrame:
    """Profiles of the segment (I/O). Reads the newest profile snapshot on or before `as_of`.

    Selects only what suppression, delivery, the templates and the trigger read (`fields`:
    template fields, default this campaign's), so every campaign of a run returns the same columns
    (plus its trigger's event column)."""
    cols, wanted = _profile_select(con, campaign, columns, fields)
    absent = sorted({c.field for c in campaign.segment.conditions} - set(cols))
    if absent:
        raise LookupError(
            f"campaign {campaign.id!r}: segment condition(s) on {absent}, which marts.customer_profiles lacks"
        )
    where, params = compile_segment(campaign.segment)
    select = ", ".join(f'"{c}"' for c in wanted)
    as_of_filter = _as_of_filter(cols)
    if as_of_filter:
        params = [*params, as_of]
    sql = f"SELECT {select} FROM marts.customer_profiles WHERE {where}{as_of_filter} ORDER BY customer_id"
    return con.execute(sql, params).df()


def select_customers(
    con: duckdb.DuckDBPyConnection,
    campaign: Campaign,
    as_of: date,
    customer_ids: list[str],
    columns: list[str] | None = None,
    fields: set[str] | None = None,
) -> pd.DataFrame:
    """Profiles of the given people (follow-ups go to members whether or not they are still in the segment)."""
    cols, wanted = _profile_select(con, campaign, columns, fields)
    ids = pd.DataFrame({"customer_id": sorted(set(customer_ids))})  # noqa: F841 - used by name in SQL
    select = ", ".join(f'p."{c}"' for c in wanted)
    as_of_filter, params = "", []
    if "as_of" in cols:
        as_of_filter = (
            ' AND (p."as_of" IS NULL OR CAST(p."as_of" AS DATE) = '
            '(SELECT max(CAST(q."as_of" AS DATE)) FROM marts.customer_profiles q WHERE CAST(q."as_of" AS DATE) <= ?))'
        )
        params = [as_of]
    sql = (
        f"SELECT {select} FROM marts.customer_profiles p JOIN ids USING (customer_id) WHERE TRUE"
        f"{as_of_filter} ORDER BY p.customer_id"
    )
    return con.execute(sql, params).df()


@dataclass
class AudienceSummary:
    as_of: date
    send_date: date
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # campaign_id -> channel -> {"audience": n, "holdout": n}
    inactive: list[str] = field(default_factory=list)  # campaigns not sent today (see `notes`)
    notes: dict[str, str] = field(default_factory=dict)  # campaign_id -> "ended", "not started", "draft"
    entered: dict[str, int] = field(default_factory=dict)  # campaign_id -> people who entered today
    follow_ups: dict[str, int] = field(default_factory=dict)  # campaign_id -> follow-up rows due today
    memberships: pd.DataFrame = field(default_factory=empty_memberships)  # today's entries (to write)

    def total(self) -> int:
        return sum(c["audience"] for chans in self.counts.values() for c in chans.values())


def _inactive_note(camp: Campaign, send_date: date, statuses: tuple[str, ...]) -> str | None:
    if camp.status not in statuses:
        return f"{camp.status}: preview only"
    if send_date > camp.end_date:
        return f"ended on {camp.end_date}"
    if send_date < camp.start_date:
        return f"starts on {camp.start_date}"
    return None


def compute_audiences(
    con: duckdb.DuckDBPyConnection,
    plan: Plan,
    as_of: date,
    send_date: date,
    progress: Progress | None = None,
    statuses: tuple[str, ...] = ("active",),
    lake_dir: str | Path | None = None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], AudienceSummary]:
    """Audience rows of the campaigns that send on `send_date`, the profiles per campaign, and the
    counts (no writes). The audience is who ENTERS today (journeys.decide_entries) on the
    campaign's first channels, plus the follow-ups due today; `summary.memberships` holds today's
    entries for `write_audiences`. `statuses`: the campaign statuses that count (a live run:
    active only; a preview: draft too). `lake_dir`: where campaign responses and email
    opens/clicks are read from (non-responders, response triggers); None: nobody has responded."""
    cols = profile_columns(con)
    fields = set().union(*(template_fields(c) for c in plan.campaigns))
    summary = AudienceSummary(as_of=as_of, send_date=send_date)
    memberships = load_memberships(con)
    rank_history = load_rank_history(con, as_of)
    responses = load_responses(lake_dir, as_of)
    frames: list[pd.DataFrame] = []
    entries: list[pd.DataFrame] = []
    profiles_by_campaign: dict[str, pd.DataFrame] = {}
    for camp in plan.campaigns:
        note = _inactive_note(camp, send_date, statuses)
        if note is not None:
            summary.inactive.append(camp.id)
            summary.notes[camp.id] = note
            if progress:
                progress(f"{camp.id}: not sent on {send_date}: {note}")
            continue
        prof = select_segment(con, camp, as_of, cols, fields)
        dups = prof.loc[prof["customer_id"].duplicated(), "customer_id"]
        if len(dups):
            raise LookupError(
                f"marts.customer_profiles has {len(dups)} duplicate customer_id(s) in campaign {camp.id!r}'s "
                f"segment (one row per person expected), e.g. {sorted(map(str, dups.unique()))[:5]}"
            )
        entered = decide_entries(camp, prof, as_of, send_date, memberships, rank_history, responses)
        due = due_follow_ups(camp, send_date, as_of, memberships, responses)
        entrants = prof[prof["customer_id"].astype(str).isin(set(entered["customer_id"]))].reset_index(
            drop=True
        )
        reason_by_id = dict(zip(entered["customer_id"], entered["entry_reason"], strict=True))
        parts = [
            expand_audience(
                entrants,
                camp,
                as_of,
                send_date,
                camp.first_channels,
                [reason_by_id[c] for c in entrants["customer_id"].astype(str)],
            )
        ]
        people = [entrants]
        if len(due):
            fprof = select_customers(con, camp, as_of, due["customer_id"].tolist(), cols, fields)
            people.append(fprof)
            for (ch, reason), grp in due.groupby(["channel", "reason"], sort=False):
                sub = fprof[fprof["customer_id"].astype(str).isin(set(grp["customer_id"]))]
                parts.append(
                    expand_audience(sub.reset_index(drop=True), camp, as_of, send_date, [ch], reason)
                )
        aud = (
            pd.concat([p for p in parts if len(p)], ignore_index=True)
            if any(len(p) for p in parts)
            else parts[0]
        )
        allp = (
            pd.concat([p for p in people if len(p)], ignore_index=True)
            if any(len(p) for p in people)
            else prof.iloc[:0]
        )
        profiles_by_campaign[camp.id] = allp.drop_duplicates("customer_id").reset_index(drop=True)
        frames.append(aud)
        entries.append(entered)
        summary.entered[camp.id] = len(entered)
        summary.follow_ups[camp.id] = len(due)
        summary.counts[camp.id] = {
            ch: {
                "audience": int((aud["channel"] == ch).sum()),
                "holdout": int(((aud["channel"] == ch) & aud["holdout"]).sum()),
            }
            for ch in camp.channels
        }
        if progress:
            progress(
                f"{camp.id}: {len(prof)} people in segment ({camp.segment.describe()}), {len(entered)} enter "
                f"on {send_date}, {len(due)} follow-up(s) due"
            )
    nonempty = [f for f in frames if len(f)]
    audience = (
        pd.concat(nonempty, ignore_index=True)
        if nonempty
        else expand_audience(pd.DataFrame(), plan.campaigns[0], as_of, send_date)
    )
    nonempty_e = [e for e in entries if len(e)]
    summary.memberships = pd.concat(nonempty_e, ignore_index=True) if nonempty_e else empty_memberships()
    return audience, profiles_by_campaign, summary


def _move_legacy_tables(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse written before the audience tables left dbt's `marts`: move them to `activations` once."""
    for table in (AUDIENCE_SNAPSHOTS, AUDIENCES):
        old = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [LEGACY_SCHEMA, table],
        ).fetchall()[0][0]
        if old:
            con.execute(AUDIENCE_DDL.format(name=f"{SCHEMA}.{table}"))
            con.execute(f"INSERT INTO {SCHEMA}.{table} BY NAME SELECT * FROM {LEGACY_SCHEMA}.{table}")
            con.execute(f"DROP TABLE {LEGACY_SCHEMA}.{table}")


def write_audiences(
    con: duckdb.DuckDBPyConnection,
    audience: pd.DataFrame,
    send_date: date,
    memberships: pd.DataFrame | None = None,
) -> None:
    """Replace activations.campaign_audiences; replace this send date's snapshot and, when given,
    the memberships entered on it (one transaction)."""
    df = audience.reindex(columns=AUDIENCE_COLUMNS)  # noqa: F841 - referenced by name in SQL (a missing send_time_arm: null)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute("BEGIN TRANSACTION")
    try:
        _move_legacy_tables(con)
        con.execute(f"DROP TABLE IF EXISTS {AUDIENCES_TABLE}")
        con.execute(AUDIENCE_DDL.format(name=AUDIENCES_TABLE))
        con.execute(f"INSERT INTO {AUDIENCES_TABLE} BY NAME SELECT * FROM df")
        con.execute(AUDIENCE_DDL.format(name=AUDIENCE_SNAPSHOTS_TABLE))
        con.execute(f"DELETE FROM {AUDIENCE_SNAPSHOTS_TABLE} WHERE send_date = ?", [send_date])
        con.execute(f"INSERT INTO {AUDIENCE_SNAPSHOTS_TABLE} BY NAME SELECT * FROM df")
        if memberships is not None:
            write_memberships(con, memberships, send_date)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def build_audiences(
    warehouse_path: str | Path,
    plan: Plan | str | Path,
    as_of: date,
    send_date: date,
    progress: Progress | None = None,
    lake_dir: str | Path | None = None,
) -> AudienceSummary:
    """Build and write the audiences of every active campaign; return the counts.

    `lake_dir` default: `<warehouse folder>/lake` (campaign responses, email opens/clicks)."""
    plan = coerce_plan(plan)
    lake = Path(lake_dir) if lake_dir is not None else Path(warehouse_path).parent / "lake"
    con = duckdb.connect(str(warehouse_path))
    try:
        audience, _, summary = compute_audiences(con, plan, as_of, send_date, progress, lake_dir=lake)
        write_audiences(con, audience, send_date, summary.memberships)
    finally:
        con.close()
    return summary
