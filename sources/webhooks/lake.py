"""Lake schemas of the feedback entities (the contract rows in sources/README.md).

Hand-off: ``sources/schema.py`` (the ingestion room) owns ``ENTITY_COLUMNS``; these three
entries belong there, and the YAMLs in ``sources/webhooks/declarations/`` belong in
``sources/declarations/``. They are kept here until then because a declaration naming an
entity that ``ENTITY_COLUMNS`` does not know makes ``load_declarations()`` fail for every
source. ``tests/webhooks/test_lake_ingest.py`` ingests the receiver's and the simulator's
files with these declarations through ``sources.ingest.ingest_partition``.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

STRING, TS, DATE, INT, FLOAT = pa.string(), pa.timestamp("us"), pa.date32(), pa.int64(), pa.float64()

FEEDBACK_ENTITY_COLUMNS: dict[str, list[tuple[str, pa.DataType]]] = {
    "email_events": [
        ("event_id", STRING), ("email", STRING), ("event", STRING), ("occurred_at", TS),
        ("campaign_id", STRING), ("send_id", STRING), ("customer_id", STRING), ("url", STRING),
        ("reason", STRING), ("bounce_type", STRING), ("sg_message_id", STRING), ("received_at", TS),
    ],
    "sms_events": [
        ("event_id", STRING), ("message_sid", STRING), ("to", STRING), ("from", STRING), ("status", STRING),
        ("error_code", STRING), ("occurred_at", TS), ("campaign_id", STRING), ("send_id", STRING),
        ("customer_id", STRING), ("body", STRING), ("received_at", TS),
    ],
    "ad_reports": [
        ("platform", STRING), ("campaign_id", STRING), ("audience_id", STRING), ("date", DATE),
        ("impressions", INT), ("clicks", INT), ("spend", FLOAT), ("conversions", FLOAT),
        ("matched_users", INT), ("uploaded_users", INT),
    ],
}  # fmt: skip

DECLARATIONS_DIR = Path(__file__).resolve().parent / "declarations"
