"""Quality gate on what leaves the warehouse: each campaign audience (great-expectations 1.x).

Per campaign × channel, over the rows that will actually be sent (`outgoing`: not holdout and,
when suppressions are known, not suppressed):
- nobody who opted out of that channel (ERROR); nobody with unknown consent (WARN; a plan may
  allow unknown consent per channel);
- no duplicate recipient: a customer at most once (ERROR), an address at most once (WARN);
- every recipient has an address valid for the channel (ERROR): email syntax, Thai E.164
  mobile for SMS, E.164 for phone, a postal line for direct mail, email or E.164 for ads;
- the audience (all rows, holdout and suppressed included) within ±band of the previous
  run's size for the same campaign × channel (ERROR; not checked without a previous run).

Input frame columns: campaign_id, customer_id, channel, holdout, address, consent
(`opt_in`/`opt_out`/`unknown`, the profile's consent for that channel) and optionally
suppression_reason. `load_audience_frame()` builds it from the warehouse (read-only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path

import pandas as pd

from activations.audiences.suppression import CAMPAIGN_SUPPRESSIONS_TABLE
from activations.audiences.tables import AUDIENCE_SNAPSHOTS, AUDIENCE_SNAPSHOTS_TABLE, AUDIENCES_TABLE, SCHEMA
from activations.plan.spec import CONSENT_COLUMN
from crmloop.settings import QualityThresholds, Settings
from sources.quality.engine import ERROR, WARN, Batch, Expect, ValidationReport, validate
from sources.quality.suites import E164_REGEX, EMAIL_REGEX, TH_MOBILE_REGEX, volume_bounds

REQUIRED_COLUMNS = ["campaign_id", "customer_id", "channel", "holdout", "address", "consent"]
ADDRESS_REGEX = {
    "email": EMAIL_REGEX,
    "sms": TH_MOBILE_REGEX,
    "phone": E164_REGEX,
    "direct_mail": r"^\S.{8,}$",  # a one-line postal address: something more than a token
    "ads": "^(?:" + EMAIL_REGEX[1:-1] + "|" + E164_REGEX[1:-1] + ")$",
}
OUTGOING = "outgoing==True"

SizeKey = tuple[str, str]  # (campaign_id, channel)


class AudienceFrameError(ValueError):
    """The audience frame lacks a required column or carries an unknown channel."""


def audience_expectations(
    channel: str, previous_size: int | None, band: float
) -> tuple[list[Expect], dict[str, str]]:
    if channel not in ADDRESS_REGEX:
        raise AudienceFrameError(f"unknown channel {channel!r}; known: {', '.join(ADDRESS_REGEX)}")
    exps = [
        Expect(
            "consent.no_opt_out",
            ERROR,
            "expect_column_values_to_be_null",
            {"column": "opted_out_customer_id", "row_condition": OUTGOING},
            f"nobody who opted out of {channel} is sent to",
        ),
        Expect(
            "consent.opt_in",
            WARN,
            "expect_column_values_to_be_null",
            {"column": "unknown_consent_customer_id", "row_condition": OUTGOING},
            "recipients with unknown consent (allowed only where the plan says so)",
        ),
        Expect(
            "recipient.unique_customer",
            ERROR,
            "expect_column_values_to_be_unique",
            {"column": "customer_id", "row_condition": OUTGOING},
            "a customer at most once per campaign × channel",
        ),
        Expect(
            "recipient.unique_address",
            WARN,
            "expect_column_values_to_be_unique",
            {"column": "address", "row_condition": OUTGOING},
            "an address at most once per campaign × channel",
        ),
        Expect(
            "address.present",
            ERROR,
            "expect_column_values_to_not_be_null",
            {"column": "address", "row_condition": OUTGOING},
            f"every recipient has a {channel} address",
        ),
        Expect(
            "address.valid",
            ERROR,
            "expect_column_values_to_match_regex",
            {"column": "address", "regex": ADDRESS_REGEX[channel], "row_condition": OUTGOING},
            f"every {channel} address is valid for the channel",
        ),
    ]
    notes = {}
    bounds = volume_bounds([previous_size], band, min_history=1) if previous_size is not None else None
    if bounds is not None:
        exps.append(
            Expect(
                "size.within_band",
                ERROR,
                "expect_table_row_count_to_be_between",
                {"min_value": bounds[0], "max_value": bounds[1]},
                f"audience size within ±{band:.0%} of the previous run's ({previous_size})",
            )
        )
        notes["size.within_band"] = f"previous run {previous_size}, allowed {bounds[0]}..{bounds[1]}"
    return exps, notes


def audience_batches(
    frame: pd.DataFrame, previous_sizes: Mapping[SizeKey, int], thresholds: QualityThresholds
) -> list[Batch]:
    """Pure: one GX batch per campaign × channel of the audience frame."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise AudienceFrameError(f"audience frame lacks column(s) {missing}; has {list(frame.columns)}")
    df = frame.copy()
    outgoing = ~df["holdout"].fillna(False).astype(bool)
    if "suppression_reason" in df.columns:
        outgoing &= df["suppression_reason"].isna()
    df["outgoing"] = outgoing.astype(bool)
    # derived columns so that the sample bad values are the customers concerned
    consent = df["consent"].astype(object)
    df["opted_out_customer_id"] = df["customer_id"].astype(object).where(consent == "opt_out", None)
    df["unknown_consent_customer_id"] = df["customer_id"].astype(object).where(consent != "opt_in", None)
    cols = [
        "customer_id",
        "address",
        "consent",
        "outgoing",
        "opted_out_customer_id",
        "unknown_consent_customer_id",
    ]
    batches = []
    for (campaign_id, channel), part in df.groupby(["campaign_id", "channel"], sort=True, dropna=False):
        exps, notes = audience_expectations(
            str(channel), previous_sizes.get((str(campaign_id), str(channel))), thresholds.audience_band
        )
        batches.append(
            Batch(f"audience.{campaign_id}.{channel}", part[cols].reset_index(drop=True), exps, notes)
        )
    for (campaign_id, channel), size in sorted(previous_sizes.items()):
        if not ((df["campaign_id"] == campaign_id) & (df["channel"] == channel)).any() and size > 0:
            # the audience vanished: an empty batch makes the size check fail visibly
            exps, notes = audience_expectations(channel, size, thresholds.audience_band)
            empty = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
            batches.append(Batch(f"audience.{campaign_id}.{channel}", empty, exps, notes))
    return batches


def validate_audiences(
    frame: pd.DataFrame,
    previous_sizes: Mapping[SizeKey, int] | None = None,
    *,
    docs_dir: Path | None,
    thresholds: QualityThresholds | None = None,
    target: str = "campaign_audiences",
    progress: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Validate every campaign × channel audience; GX Data Docs under `docs_dir`."""
    q = thresholds or QualityThresholds()
    batches = audience_batches(frame, previous_sizes or {}, q)
    return validate(batches, target=target, docs_dir=docs_dir, progress=progress)


def _table_exists(con, schema: str, table: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return rows[0][0] > 0


def load_audience_frame(warehouse_path: str | Path) -> pd.DataFrame:
    """activations.campaign_audiences joined with each person's consent for the row's channel and, when
    activations.campaign_suppressions exists, the suppression reason of that send date (read-only)."""
    import duckdb

    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        consent = " ".join(f"WHEN '{ch}' THEN p.{col}" for ch, col in CONSENT_COLUMN.items())
        has_supp = _table_exists(con, *CAMPAIGN_SUPPRESSIONS_TABLE.split("."))
        supp_select = (
            "s.reason AS suppression_reason" if has_supp else "CAST(NULL AS VARCHAR) AS suppression_reason"
        )
        supp_join = (
            f"""LEFT JOIN (SELECT DISTINCT ON (campaign_id, customer_id, channel, send_date)
                              campaign_id, customer_id, channel, send_date, reason
                          FROM {CAMPAIGN_SUPPRESSIONS_TABLE}) s
                 ON s.campaign_id = a.campaign_id AND s.customer_id = a.customer_id
                AND s.channel = a.channel AND s.send_date = a.send_date"""
            if has_supp
            else ""
        )
        sql = f"""
            SELECT a.campaign_id, a.customer_id, a.channel, a.holdout, a.address,
                   coalesce(CASE a.channel {consent} END, 'unknown') AS consent, {supp_select}
            FROM {AUDIENCES_TABLE} a
            LEFT JOIN marts.customer_profiles p ON p.customer_id = a.customer_id
            {supp_join}
        """
        return con.execute(sql).df()
    finally:
        con.close()


def previous_audience_sizes(warehouse_path: str | Path, send_date: date | None = None) -> dict[SizeKey, int]:
    """Audience sizes per campaign × channel of the latest snapshot before `send_date` (read-only).

    `send_date` None: the send date of the current activations.campaign_audiences."""
    import duckdb

    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        if not _table_exists(con, SCHEMA, AUDIENCE_SNAPSHOTS):
            return {}
        if send_date is None:
            send_date = con.execute(f"SELECT max(send_date) FROM {AUDIENCES_TABLE}").fetchall()[0][0]
            if send_date is None:
                return {}
        rows = con.execute(
            f"""
            SELECT campaign_id, channel, count(*) FROM {AUDIENCE_SNAPSHOTS_TABLE}
            WHERE send_date = (SELECT max(send_date) FROM {AUDIENCE_SNAPSHOTS_TABLE} WHERE send_date < ?)
            GROUP BY 1, 2
            """,
            [send_date],
        ).fetchall()
    finally:
        con.close()
    return {(r[0], r[1]): int(r[2]) for r in rows}


def band_campaigns(plan) -> set[str]:
    """Campaigns whose audience size is compared with the previous run's: the recurring ones (their
    audience is the segment). A trigger's entrants or a broadcast's one wave change from day to day
    by design, so a band on them would block normal days."""
    return {c.id for c in plan.campaigns if c.kind == "recurring"}


def validate_audiences_for(
    settings: Settings,
    send_date: date | None = None,
    progress: Callable[[str], None] | None = None,
    snapshot_sha256: str | None = None,
) -> ValidationReport:
    """Validate a send date's audiences against the previous run's sizes.

    With a frozen snapshot for `send_date` (activations/audiences/snapshot.py) the gate validates
    exactly that snapshot, after checking it against `snapshot_sha256` (the hash the audience step
    recorded): what it passes is what the channels send. Without one (or `send_date` None) it
    reads activations.campaign_audiences from the warehouse."""
    from activations.audiences.snapshot import MANIFEST_FILE, snapshot_folder, verify
    from activations.plan.spec import load_plan

    frame = None
    if (
        send_date is not None
        and (snapshot_folder(settings.snapshots_dir, send_date) / MANIFEST_FILE).exists()
    ):
        snap = verify(settings.snapshots_dir, send_date, snapshot_sha256)
        frame = pd.read_parquet(snap.folder / "gate.parquet")
        if progress:
            progress(f"audience gate: frozen snapshot {snap.sha256[:12]}… of {send_date} ({len(frame)} rows)")
    if frame is None:
        frame = load_audience_frame(settings.warehouse_path)
    keep = band_campaigns(load_plan(settings.plan_path))
    previous = {
        k: v for k, v in previous_audience_sizes(settings.warehouse_path, send_date).items() if k[0] in keep
    }
    label = send_date.isoformat() if send_date else settings.as_of.isoformat()
    return validate_audiences(
        frame,
        previous,
        docs_dir=settings.data_docs_dir,
        thresholds=settings.quality,
        target=f"campaign_audiences@{label}",
        progress=progress,
    )
