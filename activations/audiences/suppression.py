"""Suppression before any send, each with a counted reason.

Pure functions on DataFrames (`apply_suppression`, `classify_mobile`; quiet hours: `send_times.py`)
plus loaders for the warehouse inputs (`load_suppression_list`, `load_ledger`) and the audit
writer (`write_suppressions`).

Order of checks (a person is counted once, under the first reason that applies):
1. consent for the channel: `opted_out`, or `no_consent` (unknown / missing counts as no unless
   the campaign lists the channel in `unknown_consent_allowed`);
2. the suppression list (`activations.suppression_list`: unsubscribed, hard_bounce,
   spam_report, sms_stop, and whatever permanent error delivery recorded), by address or
   customer id, for the channel or for `all`;
3. address validity: `missing_email` / `invalid_email`, `missing_mobile` / `invalid_mobile` /
   `landline` (SMS), `missing_phone` / `invalid_phone` (calls), `missing_address` (mail),
   `missing_identifiers` (ads); then `duplicate_address`: an email address or number shared by
   several people of a campaign × channel gets one message (the lowest customer id keeps it);
4. `frequency_cap`: at most N messages per person in the window, counting the send ledger's
   earlier days (`activations.send_ledger`, statuses other than `failed`) and this send date's
   messages in plan order (campaign order, then channel order).
SMS quiet hours are not a suppression: the message is kept with `not_before` set (as is the
campaign's send time, `send_times.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from activations.audiences.send_times import scheduled_sends
from activations.plan.spec import CONSENT_COLUMN, Plan
from sources.lake import entity_files
from sources.normalise import parse_phone

SUPPRESSION_COLUMNS = ["campaign_id", "customer_id", "channel", "reason", "send_date"]
LEDGER_TABLE = "activations.send_ledger"
SUPPRESSION_LIST_TABLE = "activations.suppression_list"
CAMPAIGN_SUPPRESSIONS_TABLE = "activations.campaign_suppressions"
CAMPAIGN_SUPPRESSIONS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {CAMPAIGN_SUPPRESSIONS_TABLE} (campaign_id VARCHAR, customer_id VARCHAR, "
    "channel VARCHAR, reason VARCHAR, send_date DATE)"
)
NOT_CONTACTED_STATUSES = ("failed",)
DEDUPE_CHANNELS = ("email", "sms", "phone")
CHECK_FLAGS = (
    "has_valid_email",
    "has_valid_mobile",
    "has_postal_address",
)  # ledger statuses that do not count towards the cap

# When a person is on the list for several reasons, the first of these wins.
LIST_REASON_PRIORITY = (
    "sms_stop",
    "spam_report",
    "unsubscribed",
    "hard_bounce",
    "landline",
    "invalid_number",
)

# The reasons as a marketer reads them (the campaign report's breakdown), in the order of the
# checks; the holdout is not a suppression but is left out too. A reason of none of these (a
# permanent error delivery put on the list) reads as "other".
HOLDOUT_REASON = "holdout"
REASON_GROUPS: dict[str, tuple[str, ...]] = {
    "consent": ("opted_out", "no_consent"),
    "suppression list": ("sms_stop", "spam_report", "unsubscribed", "hard_bounce"),
    "invalid address": (
        "missing_email",
        "invalid_email",
        "missing_mobile",
        "invalid_mobile",
        "landline",
        "invalid_number",
        "missing_phone",
        "invalid_phone",
        "missing_address",
        "missing_identifiers",
    ),
    "duplicate address": ("duplicate_address",),
    "frequency cap": ("frequency_cap",),
}
OTHER_REASON_GROUP = "other"
_GROUP_OF = {r: g for g, rs in REASON_GROUPS.items() for r in rs}


def reason_group(reason: str) -> str:
    """The group a suppression reason is shown under ('holdout' for the control group)."""
    if reason == HOLDOUT_REASON:
        return HOLDOUT_REASON
    return _GROUP_OF.get(reason, OTHER_REASON_GROUP)


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


@dataclass
class SuppressionResult:
    eligible: pd.DataFrame  # audience rows (not holdout, not suppressed) + profile columns + not_before
    suppressed: pd.DataFrame  # SUPPRESSION_COLUMNS
    # (campaign_id, channel) -> reason -> people
    counts: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Pure helpers


def classify_mobile(number: str | None, region: str = "TH") -> str:
    """'mobile', 'landline', 'invalid' or 'missing' for one phone number (the rule is
    sources.normalise.parse_phone; a valid number of another kind, e.g. toll-free, is 'invalid')."""
    kind = parse_phone(number, region).kind
    return "invalid" if kind == "other" else kind


def _norm_address(channel: pd.Series, address: pd.Series) -> pd.Series:
    addr = address.astype("string").str.strip()
    return addr.where(channel.ne("email"), addr.str.lower())


def _first_reason(reasons: pd.Series) -> str:
    vals = list(reasons)
    for r in LIST_REASON_PRIORITY:
        if r in vals:
            return r
    return sorted(str(v) for v in vals)[0]


def _list_lookup(slist: pd.DataFrame, key_col: str, channels: list[str]) -> pd.DataFrame:
    """(channel, key) -> reason from the suppression list; `all` entries apply to every channel."""
    s = slist.dropna(subset=[key_col])
    if s.empty:
        return pd.DataFrame({"channel": [], key_col: [], "reason": []})
    spec = s[s["channel"] != "all"]
    alls = s[s["channel"] == "all"]
    parts = [spec[["channel", key_col, "reason"]]]
    for ch in channels:
        if not alls.empty:
            parts.append(alls[[key_col, "reason"]].assign(channel=ch))
    s = pd.concat(parts, ignore_index=True)
    return s.groupby(["channel", key_col], as_index=False)["reason"].agg(_first_reason)


def apply_suppression(
    audience: pd.DataFrame,
    profiles: pd.DataFrame,
    plan: Plan,
    send_date: date,
    now: datetime,
    suppression_list: pd.DataFrame | None = None,
    ledger: pd.DataFrame | None = None,
) -> SuppressionResult:
    """Pure: split the audience into holdout (dropped), suppressed (with reason) and eligible.

    `audience`: activations.campaign_audiences rows; `profiles`: customer_profiles rows of the audience
    (one per customer_id); `suppression_list`: channel, address, reason[, customer_id];
    `ledger`: campaign_id, customer_id, channel, send_date, status.
    """
    camp_order = {c.id: i for i, c in enumerate(plan.campaigns)}
    ch_order = {(c.id, ch): j for c in plan.campaigns for j, ch in enumerate(c.channels)}
    unknown_ok = {(c.id, ch) for c in plan.campaigns for ch in c.unknown_consent_allowed}

    a = audience.loc[~audience["holdout"].astype(bool)].copy()
    a["customer_id"] = a["customer_id"].astype(str)
    prof = profiles.drop_duplicates("customer_id").copy()
    prof["customer_id"] = prof["customer_id"].astype(str)
    # the checks read only these; the other profile columns join the eligible rows at the end
    check_cols = [c for c in (*CONSENT_COLUMN.values(), *CHECK_FLAGS) if c in prof.columns]
    a = a.merge(prof[["customer_id", *check_cols]], on="customer_id", how="left", validate="many_to_one")
    a = a.reset_index(drop=True)
    n = len(a)
    reason = pd.Series([None] * n, dtype="object")

    def mark(mask, r) -> None:
        m = np.asarray(mask, dtype=bool) & reason.isna().to_numpy()
        reason[m] = r

    ch = a["channel"]
    # 1. consent
    consent = pd.Series([None] * n, dtype="object")
    for chan, col in CONSENT_COLUMN.items():
        sel = (ch == chan).to_numpy()
        if sel.any() and col in a.columns:
            consent[sel] = a.loc[sel, col].to_numpy()
    consent = consent.astype("string").str.strip().str.lower()
    mark(consent.eq("opt_out").fillna(False), "opted_out")
    allowed_unknown = pd.Series(list(zip(a["campaign_id"], ch, strict=True)), dtype="object").isin(unknown_ok)
    not_in = ~consent.eq("opt_in").fillna(False)
    mark(not_in & ~allowed_unknown, "no_consent")

    # 2. suppression list, by address and by customer id
    if suppression_list is not None and not suppression_list.empty and n:
        sl = suppression_list.copy()
        sl["channel"] = sl["channel"].astype("string").str.strip().str.lower()
        sl["address"] = _norm_address(sl["channel"], sl["address"]) if "address" in sl else pd.NA
        if "customer_id" not in sl:
            sl["customer_id"] = pd.NA
        chans = sorted(set(ch))
        keyed = a[["channel"]].assign(_addr=_norm_address(ch, a["address"]), customer_id=a["customer_id"])
        by_addr = _list_lookup(sl.rename(columns={"address": "_addr"}), "_addr", chans)
        r_addr = keyed.merge(by_addr, on=["channel", "_addr"], how="left")["reason"]
        by_id = _list_lookup(sl, "customer_id", chans)
        by_id["customer_id"] = by_id["customer_id"].astype(str)
        r_id = keyed.assign(customer_id=keyed["customer_id"].astype(str)).merge(
            by_id, on=["channel", "customer_id"], how="left"
        )["reason"]
        listed = r_addr.where(r_addr.notna(), r_id)
        m = listed.notna().to_numpy() & reason.isna().to_numpy()
        reason[m] = listed[m].to_numpy()

    # 3. address validity
    addr = a["address"].astype("string")
    missing = addr.isna() | addr.str.strip().eq("")
    is_email = (ch == "email").to_numpy()
    mark(is_email & missing, "missing_email")
    valid_flag = a["has_valid_email"] if "has_valid_email" in a else pd.Series(True, index=a.index)
    bad_email = ~addr.fillna("").str.match(_EMAIL_RE) | valid_flag.eq(False)
    mark(is_email & bad_email.fillna(True), "invalid_email")
    for chan, missing_r in (("sms", "missing_mobile"), ("phone", "missing_phone")):
        sel = (ch == chan).to_numpy()
        mark(sel & missing, missing_r)
        if not sel.any():
            continue
        kinds = {num: classify_mobile(num) for num in addr[sel & ~missing.to_numpy()].dropna().unique()}
        kind = addr.map(lambda x, k=kinds: k.get(x, "missing") if isinstance(x, str) else "missing")
        if chan == "sms":
            mark(sel & kind.eq("landline"), "landline")
            mark(sel & kind.eq("invalid"), "invalid_mobile")
            if "has_valid_mobile" in a:
                mark(sel & a["has_valid_mobile"].eq(False), "invalid_mobile")
        else:
            mark(sel & kind.eq("invalid"), "invalid_phone")
    is_dm = (ch == "direct_mail").to_numpy()
    if "has_postal_address" in a:
        mark(is_dm & a["has_postal_address"].eq(False), "missing_address")
    mark(is_dm & missing, "missing_address")
    mark((ch == "ads").to_numpy() & missing, "missing_identifiers")

    # 3b. one message per mailbox / number per campaign × channel (shared or placeholder addresses)
    dedupe = (ch.isin(DEDUPE_CHANNELS) & reason.isna()).to_numpy()
    if dedupe.any():
        cand = a.loc[dedupe, ["campaign_id", "channel", "customer_id"]].assign(
            _addr=_norm_address(ch[dedupe], a.loc[dedupe, "address"])
        )
        cand = cand.sort_values("customer_id", kind="stable")
        dup_idx = cand.index[cand.duplicated(["campaign_id", "channel", "_addr"], keep="first").to_numpy()]
        dup = np.zeros(n, dtype=bool)
        dup[dup_idx] = True
        mark(dup, "duplicate_address")

    # 4. frequency cap, across campaigns
    cap = plan.frequency_cap
    capped_ch = (ch.isin(cap.channels) & reason.isna()).to_numpy()
    if capped_ch.any():
        past = pd.Series(dtype="int64")
        if ledger is not None and not ledger.empty:
            lo = send_date - timedelta(days=cap.window_days - 1)
            led = ledger
            sd = pd.to_datetime(led["send_date"]).dt.date
            sel = (
                (sd >= lo)
                & (sd < send_date)
                & led["channel"].isin(cap.channels)
                & ~led["status"].isin(NOT_CONTACTED_STATUSES)
            )
            past = led.loc[sel].groupby(led.loc[sel, "customer_id"].astype(str)).size()
        cand = a.loc[capped_ch, ["campaign_id", "channel", "customer_id"]].copy()
        cand["_co"] = cand["campaign_id"].map(camp_order)
        cand["_cho"] = [ch_order[(c, h)] for c, h in zip(cand["campaign_id"], cand["channel"], strict=True)]
        cand = cand.sort_values(["_co", "_cho", "customer_id"], kind="stable")
        already = cand["customer_id"].astype(str).map(past).fillna(0).astype(int)
        nth = cand.groupby("customer_id").cumcount()
        over_idx = cand.index[(already + nth).to_numpy() >= cap.max_messages]
        over = np.zeros(n, dtype=bool)
        over[over_idx] = True
        mark(over, "frequency_cap")

    # split
    sup_mask = reason.notna().to_numpy()
    suppressed = a.loc[sup_mask, ["campaign_id", "customer_id", "channel"]].copy()
    suppressed["reason"] = reason[sup_mask].to_numpy()
    suppressed["send_date"] = send_date
    suppressed = suppressed[SUPPRESSION_COLUMNS].reset_index(drop=True)
    eligible = a.loc[~sup_mask].reset_index(drop=True)
    rest = [c for c in prof.columns if c not in check_cols]
    # profile columns that clash with audience columns (address, as_of) keep a `_profile` suffix
    eligible = eligible.merge(
        prof[rest], on="customer_id", how="left", validate="many_to_one", suffixes=("", "_profile")
    )
    # when each message goes: the campaign's send_time (personal: the person's best hour), SMS
    # quiet hours winning (send_times.py); None = at once
    eligible["not_before"] = scheduled_sends(eligible, plan, now)

    counts: dict[tuple[str, str], dict[str, int]] = {}
    for (cid, chan, r), k in suppressed.groupby(["campaign_id", "channel", "reason"]).size().items():
        counts.setdefault((cid, chan), {})[r] = int(k)
    return SuppressionResult(eligible=eligible, suppressed=suppressed, counts=counts)


# ---------------------------------------------------------------------------------------------
# Warehouse I/O


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return rows[0][0] > 0


def load_suppression_list(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """activations.suppression_list (empty frame when the table does not exist yet)."""
    if not _table_exists(con, SUPPRESSION_LIST_TABLE):
        return pd.DataFrame({"channel": [], "address": [], "reason": [], "customer_id": []})
    return con.execute(f"SELECT channel, address, reason, customer_id FROM {SUPPRESSION_LIST_TABLE}").df()


HARD_BOUNCE_TYPES = ("bounce", "invalid address", "mailbox unavailable")
SMS_ERROR_REASONS = {"21610": "sms_stop", "21211": "invalid_number", "30005": "invalid_number",
                     "21614": "landline", "30006": "landline"}  # fmt: skip


def load_event_suppressions(lake_dir: str | Path | None) -> pd.DataFrame:
    """Suppressions from provider feedback in the lake (webhooks → landing → lake):
    hard bounces and spam reports (`email_events`), STOP / invalid / landline error codes
    (`sms_events`). Unsubscribes arrive as consents (so a resubscribe can undo them)."""
    empty = pd.DataFrame({"channel": [], "address": [], "reason": [], "customer_id": []})
    if lake_dir is None:
        return empty
    lake = Path(lake_dir)
    frames = []
    con = duckdb.connect()
    try:
        email_files = entity_files(lake, "email_events")
        if email_files:
            hard = ", ".join(f"'{t}'" for t in HARD_BOUNCE_TYPES)
            frames.append(con.execute(
                "SELECT 'email' AS channel, lower(trim(email)) AS address, "
                "CASE WHEN event = 'spamreport' THEN 'spam_report' ELSE 'hard_bounce' END AS reason, customer_id "
                "FROM read_parquet(?, union_by_name = true) WHERE email IS NOT NULL AND (event = 'spamreport' "
                f"OR (event = 'bounce' AND coalesce(lower(bounce_type), 'bounce') IN ({hard})) "
                "OR (event = 'dropped' AND lower(coalesce(reason, '')) LIKE '%bounced address%'))",
                [email_files],
            ).df())  # fmt: skip
        sms_files = entity_files(lake, "sms_events")
        if sms_files:
            codes = ", ".join(f"('{c}', '{r}')" for c, r in SMS_ERROR_REASONS.items())
            frames.append(con.execute(
                "SELECT 'sms' AS channel, e.\"to\" AS address, m.reason, e.customer_id "
                f"FROM read_parquet(?, union_by_name = true) e JOIN (VALUES {codes}) m(code, reason) "
                "ON m.code = e.error_code WHERE e.\"to\" IS NOT NULL",
                [sms_files],
            ).df())  # fmt: skip
    finally:
        con.close()
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True).drop_duplicates() if frames else empty


def load_ledger(con: duckdb.DuckDBPyConnection, since: date, until: date) -> pd.DataFrame:
    """Ledger rows with since <= send_date <= until (empty when there is no ledger yet)."""
    if not _table_exists(con, LEDGER_TABLE):
        return pd.DataFrame(
            {"campaign_id": [], "customer_id": [], "channel": [], "send_date": [], "status": []}
        )
    return con.execute(
        f"SELECT campaign_id, customer_id, channel, send_date, status FROM {LEDGER_TABLE} "
        "WHERE send_date BETWEEN ? AND ?",
        [since, until],
    ).df()


def write_suppressions(con: duckdb.DuckDBPyConnection, suppressed: pd.DataFrame, send_date: date) -> None:
    """Replace this send date's rows of activations.campaign_suppressions (audit of who and why)."""
    df = suppressed[SUPPRESSION_COLUMNS]  # noqa: F841 - referenced by name in SQL
    con.execute("CREATE SCHEMA IF NOT EXISTS activations")
    con.execute(CAMPAIGN_SUPPRESSIONS_DDL)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {CAMPAIGN_SUPPRESSIONS_TABLE} WHERE send_date = ?", [send_date])
        con.execute(
            f"INSERT INTO {CAMPAIGN_SUPPRESSIONS_TABLE} SELECT campaign_id, customer_id, channel, "
            "reason, CAST(send_date AS DATE) FROM df"
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
