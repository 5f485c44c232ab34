"""Expectation suites per lake entity, as code (pure: no I/O).

Three suites per (source, partition):
- `<entity>.<source>.schema`: one row per Parquet file of the partition, one column per lake
  column holding the Arrow type found in that file's footer (`<missing>` when absent);
  required columns must exist and carry the contract type (sources/schema.py).
- `<entity>.<source>.rows`: the partition's rows (only the columns the suite reads): keys
  not null and unique per delivered file, value sets, ranges, formats, referential
  (derived column `_unknown_customer_id`), volume (row count within the band of the
  trailing average).
- `<entity>.<source>.partitions`: one row per partition of the source up to the checked
  date (rows from Parquet footers); freshness = the newest partition's age in days.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import pyarrow as pa

from crmloop.settings import QualityThresholds
from sources.normalise import TH_MOBILE_E164_REGEX
from sources.quality.engine import ERROR, WARN, Expect
from sources.schema import (
    CAMPAIGN_OUTCOMES,
    EMAIL_EVENT_TYPES,
    LINEAGE_COLUMNS,
    NULLED_FIELDS,
    entity_columns,
    key_columns,
    nulls_bad_fields,
)
from sources.schema import SMS_STATUSES as SMS_STATUS_VALUES

EMAIL_REGEX = r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.[a-z]{2,}$"
E164_REGEX = r"^\+[1-9]\d{7,14}$"
TH_MOBILE_REGEX = TH_MOBILE_E164_REGEX  # the phone rule's own (sources.normalise.parse_phone)
EARLIEST_TIMESTAMP = datetime(1990, 1, 1)
EARLIEST_BIRTH_DATE = datetime(1900, 1, 1)

ORDER_STATUSES = ["completed", "cancelled", "refunded"]
EVENT_TYPES = ["login", "page_view", "search"]
CONSENT_CHANNELS = ["email", "sms", "phone", "dm", "ads", "all"]
CONSENT_STATUSES = ["opt_in", "opt_out"]
TICKET_STATUSES = ["open", "closed"]
RESPONSES = ["rsvp", "attended", "applied", "redeemed"]
GENDERS = ["M", "F"]
# provider vocabularies (the receiver in sources/webhooks accepts exactly these)
EMAIL_EVENTS = list(EMAIL_EVENT_TYPES)
SMS_STATUSES = list(SMS_STATUS_VALUES)
AD_PLATFORMS = ["meta", "google"]
# providers retry webhooks: the same event may arrive twice; the warehouse keeps the first
RETRIED_EVENTS = {"email_events", "sms_events"}
# The lake contract lets an order arrive more than once, even within one file: a refund is the
# same order again with status refunded (so status is part of the key), and a source re-delivers
# a few rows, which the warehouse counts once. Those are tolerated up to
# QualityThresholds.max_duplicate_share of the rows (both copies count); beyond that the extract
# is broken and the check fails with ERROR.
REDELIVERED = {"orders", "order_lines"}

# derived (consents): source_customer_id, else email, else phone
SUBJECT_COLUMN = "_subject"
SUBJECT_SOURCES = ("source_customer_id", "email", "phone")

# per entity: the timestamp columns (the keys, unique within one delivered file, are
# sources.schema.KEY_COLUMNS)
TIMESTAMPS: dict[str, list[str]] = {
    "customers": ["registered_at", "updated_at"],
    "orders": ["ordered_at"],
    "web_events": ["occurred_at"],
    "consents": ["recorded_at"],
    "support_tickets": ["opened_at", "closed_at"],
    "campaign_responses": ["occurred_at"],
    "email_events": ["occurred_at"],
    "sms_events": ["occurred_at"],
}


def _type_name(t: pa.DataType) -> str:
    return str(t)


def allowed_types(t: pa.DataType) -> list[str]:
    if pa.types.is_string(t):
        return ["string", "large_string"]
    return [_type_name(t)]


def required_columns(entity: str) -> list[tuple[str, pa.DataType]]:
    return list(entity_columns(entity)) + list(LINEAGE_COLUMNS)


def schema_suite(entity: str) -> list[Expect]:
    """Over the long schema frame (one row per file × required column, see `lake.schema_frame`)."""
    allowed = sorted(f"{col}:{t}" for col, dt in required_columns(entity) for t in allowed_types(dt))
    return [
        Expect(
            "schema.required_columns",
            ERROR,
            "expect_column_values_to_be_null",
            {"column": "missing_column"},
            "every required lake column is present in every file (bad values: the missing columns)",
        ),
        Expect(
            "schema.types",
            ERROR,
            "expect_column_values_to_be_in_set",
            {"column": "column_type", "value_set": allowed},
            "every column carries its contract Arrow type (bad values: column:type found)",
        ),
    ]


def end_of_day(d: date, tolerance_days: int = 0) -> datetime:
    return datetime.combine(d + timedelta(days=tolerance_days), time.max)


def _share(mostly: float) -> float | None:
    return None if mostly >= 1.0 else round(1.0 - mostly, 12)


def _not_null(col: str, severity: str = ERROR, mostly: float = 1.0) -> Expect:
    kw: dict = {"column": col}
    if mostly < 1.0:
        kw["mostly"] = mostly
    return Expect(
        f"{col}.not_null", severity, "expect_column_values_to_not_be_null", kw, max_share=_share(mostly)
    )


def _in_set(col: str, values: list[str], severity: str = ERROR) -> Expect:
    return Expect(
        f"{col}.in_set", severity, "expect_column_values_to_be_in_set", {"column": col, "value_set": values}
    )


def _regex(
    name: str, col: str, regex: str, severity: str, mostly: float = 1.0, row_condition: str | None = None
) -> Expect:
    kw: dict = {"column": col, "regex": regex}
    if mostly < 1.0:
        kw["mostly"] = mostly
    if row_condition:
        kw["row_condition"] = row_condition
    return Expect(name, severity, "expect_column_values_to_match_regex", kw, max_share=_share(mostly))


def _min(col: str, minimum: float = 0, severity: str = ERROR) -> Expect:
    return Expect(
        f"{col}.non_negative",
        severity,
        "expect_column_values_to_be_between",
        {"column": col, "min_value": minimum},
    )


def _not_future(col: str, as_of: date, q: QualityThresholds) -> Expect:
    return Expect(
        f"{col}.plausible_time",
        ERROR,
        "expect_column_values_to_be_between",
        {
            "column": col,
            "min_value": EARLIEST_TIMESTAMP,
            "max_value": end_of_day(as_of, q.future_tolerance_days),
        },
        f"{col} between {EARLIEST_TIMESTAMP.date()} and the end of as-of + {q.future_tolerance_days} day(s)",
    )


def rows_suite(
    entity: str,
    *,
    as_of: date,
    thresholds: QualityThresholds,
    volume_bounds: tuple[int, int | None] | None = None,
    referential: bool = False,
) -> list[Expect]:
    """Row-level expectations of one entity partition (pure: bounds are computed by the caller)."""
    q = thresholds
    keep = 1.0 - q.max_null_share
    # the contact-format rules, the same for every entity that carries the column
    email_format = _regex("email.format", "email", EMAIL_REGEX, WARN, 1.0 - q.max_invalid_share)
    phone_e164 = _regex("phone.e164", "phone", E164_REGEX, ERROR)
    exps: list[Expect] = []
    key = list(key_columns(entity))
    for col in key:
        if entity == "consents" and col == "source_customer_id":
            # an opt-out by reply (SMS STOP, an email unsubscribe) knows only the number or the
            # address: the warehouse links it by those, so the consent needs one of the three
            exps.append(
                Expect(
                    "subject.not_null",
                    ERROR,
                    "expect_column_values_to_not_be_null",
                    {"column": SUBJECT_COLUMN},
                    "every consent names its person: source_customer_id, email or phone",
                )
            )
            continue
        exps.append(_not_null(col))
    unique_kw: dict = {"column_list": ["_source_file", *key]}
    if entity in REDELIVERED:
        unique_kw["mostly"] = 1.0 - q.max_duplicate_share
    exps.append(
        Expect(
            "key.unique_per_file",
            WARN if entity in RETRIED_EVENTS else ERROR,
            "expect_compound_columns_to_be_unique",
            unique_kw,
            f"({', '.join(key)}) unique within each delivered file",
            max_share=q.max_duplicate_share if entity in REDELIVERED else None,
        )
    )
    for col in TIMESTAMPS.get(entity, []):
        exps.append(_not_future(col, as_of, q))
    if nulls_bad_fields(entity):
        # a value that failed to parse is loaded as null (sources.schema.NULLED_FIELDS) where it
        # once quarantined its row: judged with the quarantine's tolerance, so an extract whose
        # birth dates all stop parsing is still held back
        exps.append(
            Expect(
                "nulled_fields.share",
                ERROR,
                "expect_column_values_to_be_null",
                {"column": NULLED_FIELDS, "mostly": 1.0 - q.max_quarantine_share},
                "rows loaded with a field nulled at ingestion (its value failed to parse; the note "
                "counts them per column, with the first file and row)",
                max_share=q.max_quarantine_share,
            )
        )
    if entity == "customers":
        exps += [
            _not_null("email", ERROR, keep),
            email_format,
            _not_null("phone", WARN, keep),
            phone_e164,
            _regex(
                "phone.th_mobile",
                "phone",
                TH_MOBILE_REGEX,
                WARN,
                1.0 - q.max_invalid_share,
                "phone_is_mobile==True",
            ),
            _in_set("gender", GENDERS),
            Expect(
                "birth_date.plausible",
                ERROR,
                "expect_column_values_to_be_between",
                {
                    "column": "birth_date",
                    "min_value": EARLIEST_BIRTH_DATE,
                    "max_value": datetime.combine(_years_before(as_of, q.min_age_years), time.min),
                    "mostly": 1.0 - q.max_invalid_share,
                },
                f"birth_date between 1900-01-01 and as-of minus {q.min_age_years} years",
                max_share=q.max_invalid_share,
            ),
            _regex("country.iso2", "country", r"^[A-Z]{2}$", WARN),
        ]
    elif entity == "orders":
        exps += [
            _not_null("source_customer_id", ERROR, keep),
            _not_null("ordered_at"),
            _not_null("status"),
            _in_set("status", ORDER_STATUSES),
            _not_null("total_amount"),
            _min("total_amount"),
            _regex("currency.iso", "currency", r"^[A-Z]{3}$", ERROR),
            _in_set("currency", ["THB"], WARN),
        ]
        if referential:
            exps.append(
                Expect(
                    "customer.known",
                    ERROR,
                    "expect_column_values_to_be_null",
                    {"column": "_unknown_customer_id", "mostly": 1.0 - q.max_orphan_share},
                    "orders whose (source_system, source_customer_id) is in no customers partition up to this date",
                    max_share=q.max_orphan_share,
                )
            )
    elif entity == "order_lines":
        exps += [
            _not_null("product_id"),
            _not_null("quantity"),
            _min("quantity"),
            _min("unit_price"),
        ]
    elif entity == "products":
        exps += [_not_null("name", WARN), _min("price")]
    elif entity == "web_events":
        exps += [
            _not_null("event_type"),
            _in_set("event_type", EVENT_TYPES),
            _not_null("occurred_at"),
            email_format,
        ]
    elif entity == "consents":
        exps += [
            _in_set("channel", CONSENT_CHANNELS),
            _not_null("status"),
            _in_set("status", CONSENT_STATUSES),
            _not_null("recorded_at"),
            phone_e164,
            _regex("phone.th_mobile", "phone", TH_MOBILE_REGEX, WARN, 1.0 - q.max_invalid_share),
            email_format,
        ]
    elif entity == "support_tickets":
        exps += [
            _in_set("status", TICKET_STATUSES),
            email_format,
        ]
    elif entity == "campaign_responses":
        exps += [
            _not_null("campaign_id"),
            _not_null("response"),
            _in_set("response", RESPONSES),
            phone_e164,
            email_format,
        ]
    elif entity == "email_events":
        exps += [
            _not_null("event"),
            _in_set("event", EMAIL_EVENTS),
            _not_null("occurred_at"),
            email_format,
            _not_null("campaign_id", WARN, keep),
        ]
    elif entity == "sms_events":
        exps += [
            _not_null("status"),
            _in_set("status", SMS_STATUSES),
            _not_null("occurred_at"),
            _regex("to.e164", "to", E164_REGEX, ERROR),
        ]
    elif entity == "ad_reports":
        exps += [
            _in_set("platform", AD_PLATFORMS),
            _min("impressions"),
            _min("clicks"),
            _min("spend"),
            _min("matched_users"),
            _min("uploaded_users"),
        ]
    elif entity == "campaign_sends":
        exps += [
            _in_set("outcome", list(CAMPAIGN_OUTCOMES)),
            _not_null("send_date"),
            _not_null("holdout"),
            _not_null("send_id"),
            Expect(
                "send_id.unique",
                ERROR,
                "expect_column_values_to_be_unique",
                {"column": "send_id"},
                "one send id per audience member × campaign × channel × send date",
            ),
        ]
    elif entity == "campaign_plan":
        exps += [
            _not_null("kpi_metric"),
            _min("kpi_window_days"),
            Expect(
                "holdout_share.share",
                ERROR,
                "expect_column_values_to_be_between",
                {"column": "holdout_share", "min_value": 0, "max_value": 1},
                "the holdout is a share of the audience",
            ),
        ]
    if volume_bounds is not None:
        lo, hi = volume_bounds
        kw: dict = {"min_value": lo}
        if hi is not None:
            kw["max_value"] = hi
        exps.append(
            Expect(
                "volume.within_band",
                ERROR,
                "expect_table_row_count_to_be_between",
                kw,
                f"row count within ±{q.volume_band:.0%} of the trailing {q.volume_trailing_days}-partition median",
            )
        )
    return exps


# ------------------------------------------------------------------------------------ share gates
# A share judged on a handful of rows is noise (2 of 3 rows without email is "66.7 %"). Every share
# gate fails only when the share is over its threshold with confidence: when the lower bound of
# the Wilson score interval (95 %, scipy's binomtest) of the bad share exceeds the tolerated share.
# GX still counts the bad values; `mostly` is set so that GX passes exactly up to the largest bad
# count whose lower bound is within the threshold.
CONFIDENCE = 0.95


@lru_cache(maxsize=4096)
def max_bad_count(max_share: float, n: int) -> int:
    """The largest number of bad values out of `n` whose Wilson lower bound is ≤ `max_share`."""
    from scipy.stats import binomtest

    def low(k: int) -> float:
        return float(binomtest(k, n).proportion_ci(CONFIDENCE, method="wilson").low)

    lo, hi = 0, n  # low(0) == 0 <= max_share; find the last k with low(k) <= max_share
    if low(n) <= max_share:
        return n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if low(mid) <= max_share:
            lo = mid
        else:
            hi = mid
    return lo


def share_rule(max_share: float, n: int) -> str:
    k = max_bad_count(max_share, n)
    return (
        f"judged with a confidence bound: fails only when the Wilson {CONFIDENCE:.0%} lower bound of the "
        f"bad share exceeds {max_share:.1%} (here more than {k:,} bad of {n:,} values)"
    )


def _judged_values(e: Expect, frame) -> int:
    """How many values a share gate judges: GX leaves nulls out, except in null checks."""
    if e.type in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_null") or not e.column:
        return len(frame)
    values = frame[e.column].notna()
    cond = e.kwargs.get("row_condition")
    if cond:
        import ast

        from sources.quality.engine import _CONDITION

        m = _CONDITION.match(cond)
        values &= frame[m.group(1)] == ast.literal_eval(m.group(2))
    return int(values.sum())


def judge_shares(exps: list[Expect], frame) -> tuple[list[Expect], dict[str, str]]:
    """The share gates of `exps` with `mostly` set from the Wilson bound over the rows of `frame`
    (columns an expectation needs but the frame lacks: left as they are), and a note each."""
    out, notes = [], {}
    for e in exps:
        if e.max_share is None or not set(e.columns) <= set(frame.columns):
            out.append(e)
            continue
        n = _judged_values(e, frame)
        if n == 0:
            out.append(e)
            continue
        k = max_bad_count(e.max_share, n)
        mostly = max(0.0, 1.0 - (k + 0.5) / n)
        rule = share_rule(e.max_share, n)
        desc = f"{e.description}; {rule}" if e.description else rule[0].upper() + rule[1:]
        out.append(replace(e, kwargs={**e.kwargs, "mostly": mostly}, description=desc))
        notes[e.name] = rule
    return out, notes


def quarantine_suite(max_share: float, rows_in: int) -> list[Expect]:
    """Over one row: the partition's quarantined rows (see `lake.quarantine_counts`)."""
    k = max_bad_count(max_share, rows_in) if rows_in else 0
    return [
        Expect(
            "rows.quarantined_share",
            ERROR,
            "expect_column_values_to_be_between",
            {"column": "quarantined", "min_value": 0, "max_value": k},
            "rows quarantined at ingestion (bad values in a row: missing, unparseable, out of range, "
            "malformed) out of the rows read; " + (share_rule(max_share, rows_in) if rows_in else "no rows"),
        )
    ]


def files_suite() -> list[Expect]:
    """Over the files ingestion rejected whole (one row each, see `lake.rejected_files`)."""
    return [
        Expect(
            "files.none_rejected",
            ERROR,
            "expect_column_values_to_be_null",
            {"column": "rejected_file"},
            "every delivered file was ingested (bad values: file and why it was rejected whole, "
            "e.g. a required column missing)",
        )
    ]


def partitions_suite(thresholds: QualityThresholds) -> list[Expect]:
    return [
        Expect(
            "freshness.newest_partition",
            ERROR,
            "expect_column_min_to_be_between",
            {"column": "age_days", "min_value": 0, "max_value": thresholds.freshness_days},
            f"newest partition at most {thresholds.freshness_days} day(s) older than as-of",
        ),
        Expect(
            "freshness.has_partitions",
            ERROR,
            "expect_table_row_count_to_be_between",
            {"min_value": 1},
            "the source has at least one partition up to as-of",
        ),
    ]


def volume_bounds(
    trailing_rows: list[int], band: float, min_history: int = 3
) -> tuple[int, int | None] | None:
    """(min, max) rows allowed given the trailing partitions' row counts; None without enough history.

    The centre is the median, not the mean, so one initial full extract among daily deltas does
    not move the band; with fewer than `min_history` trailing partitions volume is not judged.
    """
    if len(trailing_rows) < max(min_history, 1):
        return None
    ordered = sorted(trailing_rows)
    mid = len(ordered) // 2
    centre = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    lo = int(centre * (1.0 - band))
    hi = int(centre * (1.0 + band) + 0.999999)
    return max(lo, 0), hi


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def needed_columns(expectations: list[Expect]) -> list[str]:
    out: list[str] = []
    for e in expectations:
        for c in e.columns:
            if c == SUBJECT_COLUMN:
                out.extend(x for x in SUBJECT_SOURCES if x not in out)
            elif c not in out and not c.startswith("_unknown"):
                out.append(c)
    return out
