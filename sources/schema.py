"""The typed lake schema of every canonical entity (the contract in sources/README.md)."""

from __future__ import annotations

import pyarrow as pa

STRING = pa.string()
BOOL = pa.bool_()
DATE = pa.date32()
TS = pa.timestamp("us")
FLOAT = pa.float64()
INT = pa.int64()

# entity -> ordered (column, type). Lineage columns are appended by entity_schema().
ENTITY_COLUMNS: dict[str, list[tuple[str, pa.DataType]]] = {
    "customers": [
        ("source_system", STRING),
        ("source_customer_id", STRING),
        ("first_name", STRING),
        ("last_name", STRING),
        ("email", STRING),
        ("email_valid", BOOL),
        ("phone", STRING),
        ("phone_raw", STRING),
        ("phone_is_mobile", BOOL),
        ("gender", STRING),
        ("birth_date", DATE),
        ("occupation", STRING),
        ("address", STRING),
        ("district", STRING),
        ("province", STRING),
        ("postal_code", STRING),
        ("country", STRING),
        ("loyalty_card_id", STRING),
        ("registered_at", TS),
        ("updated_at", TS),
        ("nulled_fields", STRING),  # filled by ingestion: see NULLED_FIELDS
    ],
    "orders": [
        ("source_system", STRING),
        ("order_id", STRING),
        ("source_customer_id", STRING),
        ("ordered_at", TS),
        ("channel", STRING),
        ("store_id", STRING),
        ("status", STRING),
        ("total_amount", FLOAT),
        ("currency", STRING),
    ],
    "order_lines": [
        ("source_system", STRING),
        ("order_id", STRING),
        ("line_no", INT),
        ("product_id", STRING),
        ("quantity", INT),
        ("unit_price", FLOAT),
        ("warranty_until", DATE),
    ],
    "products": [
        ("product_id", STRING),
        ("name", STRING),
        ("category", STRING),
        ("price", FLOAT),
    ],
    "web_events": [
        ("event_id", STRING),
        ("source_system", STRING),
        ("source_customer_id", STRING),
        ("email", STRING),
        ("event_type", STRING),
        ("occurred_at", TS),
        ("url", STRING),
        ("search_term", STRING),
    ],
    "consents": [
        ("source_system", STRING),
        ("source_customer_id", STRING),
        ("email", STRING),
        ("phone", STRING),
        ("channel", STRING),
        ("status", STRING),
        ("recorded_at", TS),
        ("provider_event_id", STRING),  # the provider's id of the event (counted once)
        ("received_at", TS),  # when the webhook receiver accepted this delivery
    ],
    "support_tickets": [
        ("ticket_id", STRING),
        ("source_system", STRING),
        ("source_customer_id", STRING),
        ("email", STRING),
        ("opened_at", TS),
        ("closed_at", TS),
        ("status", STRING),
        ("category", STRING),
        ("subject", STRING),
    ],
    "campaign_responses": [
        ("response_id", STRING),
        ("campaign_id", STRING),
        ("customer_id", STRING),
        ("email", STRING),
        ("phone", STRING),
        ("response", STRING),
        ("occurred_at", TS),
    ],
    # feedback entities (written by `crmloop webhooks` and the ad-platform report files)
    "email_events": [
        ("event_id", STRING),
        ("email", STRING),
        ("event", STRING),
        ("occurred_at", TS),
        ("campaign_id", STRING),
        ("send_id", STRING),
        ("customer_id", STRING),
        ("url", STRING),
        ("reason", STRING),
        ("bounce_type", STRING),
        ("sg_message_id", STRING),
        ("received_at", TS),
    ],
    "sms_events": [
        ("event_id", STRING),
        ("message_sid", STRING),
        ("to", STRING),
        ("from", STRING),
        ("status", STRING),
        ("error_code", STRING),
        ("occurred_at", TS),
        ("campaign_id", STRING),
        ("send_id", STRING),
        ("customer_id", STRING),
        ("body", STRING),
        ("received_at", TS),
    ],
    "ad_reports": [
        ("platform", STRING),
        ("campaign_id", STRING),
        ("audience_id", STRING),
        ("date", DATE),
        ("impressions", INT),
        ("clicks", INT),
        ("spend", FLOAT),
        ("conversions", FLOAT),
        ("matched_users", INT),
        ("uploaded_users", INT),
    ],
    # written by the pipeline itself (the campaign-state step, activations/delivery/campaign_state.py)
    # as landing-style files and ingested like every source (declarations with `produced_by`)
    "campaign_sends": [
        ("campaign_id", STRING),
        ("customer_id", STRING),
        ("channel", STRING),
        ("send_date", DATE),
        ("holdout", BOOL),
        ("outcome", STRING),
        ("reason", STRING),
        ("send_id", STRING),
        ("address_hash", STRING),
    ],
    "campaign_plan": [
        ("campaign_id", STRING),
        ("campaign_name", STRING),
        ("channel", STRING),
        ("segment", STRING),
        ("objective", STRING),
        ("kpi_metric", STRING),
        ("kpi_target", FLOAT),
        ("kpi_window_days", INT),
        ("start_date", DATE),
        ("end_date", DATE),
        ("holdout_share", FLOAT),
    ],
}

# Per entity: the columns that identify a record (unique within one delivered file). A value of
# theirs that is missing or fails to parse quarantines its row, always.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("source_system", "source_customer_id"),
    "orders": ("source_system", "order_id", "status"),
    "order_lines": ("source_system", "order_id", "line_no"),
    "products": ("product_id",),
    "web_events": ("event_id",),
    "consents": ("source_system", "source_customer_id", "channel", "recorded_at"),
    "support_tickets": ("ticket_id",),
    "campaign_responses": ("response_id",),
    "email_events": ("event_id",),
    "sms_events": ("event_id",),
    "ad_reports": ("platform", "audience_id", "date"),
    "campaign_sends": ("campaign_id", "customer_id", "channel"),
    "campaign_plan": ("campaign_id", "channel"),
}

# An entity whose columns include NULLED_FIELDS keeps a row whose non-key value fails to parse
# (unparseable, out of range, too long, an uncomputed formula): the value is loaded as null and
# the reason is listed in this column, `; `-separated in column order, in the quarantine's own
# vocabulary (`invalid_date:birth_date; invalid_enum:gender`), null when nothing was nulled.
# Filled by ingestion, never mapped by a declaration. Only customers: a bad birth date must not
# lose the customer, while an order with an unreadable amount is better quarantined than summed.
NULLED_FIELDS = "nulled_fields"
NULLED_SEPARATOR = "; "


def nulls_bad_fields(entity: str) -> bool:
    """Whether `entity` nulls and flags unparseable non-key values (see NULLED_FIELDS)."""
    return any(c == NULLED_FIELDS for c, _ in entity_columns(entity))


def key_columns(entity: str) -> tuple[str, ...]:
    entity_columns(entity)  # unknown entity: ValueError
    return KEY_COLUMNS[entity]


LINEAGE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("_source", STRING),
    ("_source_file", STRING),
    ("_row_number", INT),
]

# Columns filled by a normaliser of another column (phone -> phone_raw, phone_is_mobile; email ->
# email_valid); a declaration cannot map a file column onto them directly.
DERIVED_SUFFIXES = {"phone": ("_raw", "_is_mobile"), "email": ("_valid",)}


def entities() -> list[str]:
    return sorted(ENTITY_COLUMNS)


def entity_columns(entity: str) -> list[tuple[str, pa.DataType]]:
    try:
        return ENTITY_COLUMNS[entity]
    except KeyError:
        raise ValueError(f"unknown entity {entity!r}; known: {', '.join(entities())}") from None


def entity_schema(entity: str) -> pa.Schema:
    """The typed lake schema of `entity`, including `_source`, `_source_file`, `_row_number`."""
    return pa.schema([pa.field(n, t) for n, t in entity_columns(entity) + LINEAGE_COLUMNS])


QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("file", STRING),
        pa.field("row", INT),
        pa.field("reason", STRING),
        pa.field("value", STRING),
        pa.field("raw", STRING),  # JSON object of the row's raw values, keyed by file header
        pa.field("reasons", STRING),  # every reason of the row, `; `-separated (`reason` is the first)
    ]
)


# Provider vocabularies of the feedback entities (the webhook receiver accepts exactly these,
# the quality suites expect them).
EMAIL_EVENT_TYPES = (
    "processed",
    "delivered",
    "open",
    "click",
    "bounce",
    "dropped",
    "spamreport",
    "unsubscribe",
    "group_unsubscribe",
    "group_resubscribe",
    "deferred",
)
SMS_STATUSES = (
    "queued",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "received",
    # other values Twilio sends in MessageStatus/SmsStatus
    "accepted",
    "scheduled",
    "sending",
    "receiving",
    "read",
    "canceled",
    "partially_delivered",
)
# What happened to an audience member on a send date (lake entity campaign_sends, its `outcome`):
# holdout (control group), suppressed, sent, failed, ambiguous (in flight or not reconciled),
# queued (eligible, no send recorded yet).
CAMPAIGN_OUTCOMES = ("holdout", "suppressed", "sent", "failed", "ambiguous", "queued")
