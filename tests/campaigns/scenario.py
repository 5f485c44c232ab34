"""A small, fully known campaign scenario: a warehouse with audiences, suppressions and a send
ledger, and a lake with customers, orders, provider events, responses and ad reports.

regular_winback (email, apply_rate ≥ 0.15, 30 days), sent 2025-06-01, customers 1..100:
  holdout 61..100 (40); suppressed 1..5 (1..3 unsubscribed, 4 frequency_cap, 5 no_consent);
  failed 6..7; sent 8..60 (53).
  delivered 8..57 (50, the event for 8 delivered twice), bounced 58..60 (3), opened 8..27 (20),
  clicked 8..27 (20: every opener), unsubscribed 27; applied 8..10 (3) in the window, 11 before
  the send.
  Purchases in the window: 8..19 and 30 (sent), 1 (suppressed), 61..64 (holdout);
  20 bought before the send, 21 after the window (2025-07-01), 22 a refunded order.
  → sent 53, converted_sent 13, converted (treatment) 14 of 60, holdout 4 of 40;
    apply rate 3 / 53, missed: 20 clicks but 3 applications (15%, interval up to 36%, below
    the 50% a form should keep) → application process.
prospect_welcome (sms, purchase_rate ≥ 0.10), customers 1..20, no holdout, all sent:
  delivered 1..18, 19 and 20 undelivered; customer 2 replied STOP on 2025-06-02;
  purchases in the window 1, 8..19 → 13 / 20 = 0.65: met.
ads: meta audience aud1 of prospect_welcome: 15 of 20 matched.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from activations.audiences.build import write_audiences
from activations.audiences.messages import send_id_for
from activations.audiences.suppression import SUPPRESSION_COLUMNS, write_suppressions
from activations.audiences.tables import AUDIENCE_COLUMNS
from activations.delivery.ledger import DDL as LEDGER_DDL
from bench.lake import write_partition
from sources import entity_schema
from tests.dbt.lake_fixtures import customer, order

SEND = date(2025, 6, 1)
AS_OF = "2025-07-05"
EMAIL_CAMPAIGN, SMS_CAMPAIGN = "regular_winback", "prospect_welcome"


def cid(n: int) -> str:
    """customer_id of pos customer n (its own identity component: 'C' + md5(system|id)[:20])."""
    return "C" + hashlib.md5(f"pos|{n}".encode()).hexdigest()[:20]


def phone(n: int) -> str:
    return f"+6681{n:07d}"


def email(n: int) -> str:
    return f"person{n}@example.com"


def write_lake_entity(lake: Path, entity: str, load_date: str, rows: list[dict], source: str = "fx") -> None:
    """Rows in the exact lake schema of `entity` (sources.entity_schema), meta columns filled."""
    schema = entity_schema(entity)
    full = []
    for i, r in enumerate(rows, start=1):
        full.append(
            {"_source": source, "_source_file": f"{source}/{load_date}/{entity}.jsonl", "_row_number": i, **r}
        )
    table = pa.Table.from_pylist(full, schema=schema) if full else schema.empty_table()
    out = lake / entity / f"load_date={load_date}"
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / f"{source}-0001.parquet")


def build_state_warehouse(warehouse: Path) -> None:
    """Audience snapshot, suppressions and send ledger of SEND, as activations would write them."""
    aud, sup, led = [], [], []
    for n in range(1, 101):
        holdout = n >= 61
        aud.append((EMAIL_CAMPAIGN, cid(n), "email", holdout, "segment", email(n), SEND, SEND))
        if holdout:
            continue
        if n <= 5:
            reason = {4: "frequency_cap", 5: "no_consent"}.get(n, "unsubscribed")
            sup.append((EMAIL_CAMPAIGN, cid(n), "email", reason, SEND))
        else:
            status = "failed" if n in (6, 7) else "sent"
            reason = "invalid_email" if status == "failed" else None
            led.append((EMAIL_CAMPAIGN, cid(n), "email", email(n), status, reason))
    for n in range(1, 21):
        aud.append((SMS_CAMPAIGN, cid(n), "sms", False, "segment", phone(n), SEND, SEND))
        led.append((SMS_CAMPAIGN, cid(n), "sms", phone(n), "sent", None))
    write_state_warehouse(warehouse, aud, sup, led)


def write_state_warehouse(warehouse: Path, audience: list, suppressions: list, ledger: list) -> None:
    """The state of SEND through the audience stage's own writers (audience snapshot, suppressions)
    and the ledger's declared table. `audience` rows follow AUDIENCE_COLUMNS, `suppressions`
    SUPPRESSION_COLUMNS, `ledger` (campaign_id, customer_id, channel, address, status, reason)."""
    con = duckdb.connect(str(warehouse))
    try:
        # rows without the send-time arm (a campaign without send_time personal): it stays null
        cols = AUDIENCE_COLUMNS[: len(audience[0])] if audience else AUDIENCE_COLUMNS
        write_audiences(con, pd.DataFrame(audience, columns=cols), SEND)
        write_suppressions(con, pd.DataFrame(suppressions, columns=SUPPRESSION_COLUMNS), SEND)
        con.execute(LEDGER_DDL)
        con.executemany(
            "insert into activations.send_ledger (campaign_id, customer_id, channel, send_date, send_id, batch_id,"
            " address, status, reason, intent_at) values (?, ?, ?, ?, ?, 'b1', ?, ?, ?, timestamp '2025-06-01 09:00:00')",
            [(c, cu, ch, SEND, send_id_for(c, cu, ch, SEND), a, st, r) for c, cu, ch, a, st, r in ledger],
        )
    finally:
        con.close()


def build_feedback_lake(lake: Path) -> None:
    """Customers, orders, provider events, responses and ad reports (everything but the exports)."""
    write_partition(
        lake, "customers", "2025-01-01", [customer("pos", str(n), email=email(n)) for n in range(1, 101)]
    )
    orders = []
    for n in [*range(8, 20), 30, 1, 61, 62, 63, 64]:
        orders.append(order("pos", f"o{n}", str(n), "2025-06-10 12:00:00", 1000.0))
    orders.append(order("pos", "o20", "20", "2025-05-20 12:00:00", 1000.0))
    orders.append(order("pos", "o22", "22", "2025-06-05 12:00:00", 1000.0, status="refunded"))
    write_partition(lake, "orders", "2025-06-15", orders)
    write_partition(lake, "orders", "2025-07-01", [order("pos", "o21", "21", "2025-07-01 12:00:00", 1000.0)])
    for entity in ("order_lines", "products", "web_events", "consents", "support_tickets"):
        write_partition(lake, entity, "2025-01-01", [], source="empty")

    def ev(eid, event, n, day="2025-06-02 10:00:00"):
        sid = send_id_for(EMAIL_CAMPAIGN, cid(n), "email", SEND)
        return {
            "event_id": eid,
            "email": email(n),
            "event": event,
            "occurred_at": day,
            "campaign_id": EMAIL_CAMPAIGN,
            "send_id": sid,
            "customer_id": cid(n),
            "received_at": day,
        }

    day1 = [ev(f"d{n}", "delivered", n) for n in range(8, 58)] + [
        ev(f"b{n}", "bounce", n) for n in range(58, 61)
    ]
    day2 = [ev("d8", "delivered", 8)]  # a redelivery: counts once
    day2 += [ev(f"o{n}", "open", n) for n in range(8, 28)] + [ev(f"c{n}", "click", n) for n in range(8, 28)]
    day2 += [ev("u27", "unsubscribe", 27)]
    _ts = _typed_ts
    write_lake_entity(lake, "email_events", "2025-06-02", _ts(day1, "occurred_at", "received_at"))
    write_lake_entity(lake, "email_events", "2025-06-03", _ts(day2, "occurred_at", "received_at"))

    sms = []
    for n in range(1, 21):
        status = "delivered" if n <= 18 else "undelivered"
        sms.append(
            {
                "event_id": f"SM{n}:{status}",
                "message_sid": f"SM{n}",
                "to": phone(n),
                "from": "+6620000000",
                "status": status,
                "occurred_at": "2025-06-01 10:00:00",
                "campaign_id": SMS_CAMPAIGN,
                "send_id": send_id_for(SMS_CAMPAIGN, cid(n), "sms", SEND),
                "customer_id": cid(n),
                "received_at": "2025-06-01 10:00:00",
            }
        )
    sms.append(
        {
            "event_id": "SMin:received",
            "message_sid": "SMin",
            "to": "+6620000000",
            "from": phone(2),
            "status": "received",
            "occurred_at": "2025-06-02 08:30:00",
            "body": " STOP ",
            "received_at": "2025-06-02 08:30:00",
        }
    )
    write_lake_entity(lake, "sms_events", "2025-06-02", _ts(sms, "occurred_at", "received_at"))

    def resp(rid, n, when):
        return {
            "response_id": rid,
            "campaign_id": EMAIL_CAMPAIGN,
            "customer_id": cid(n),
            "response": "applied",
            "occurred_at": when,
        }

    responses = [resp(f"r{n}", n, "2025-06-05 10:00:00") for n in (8, 9, 10)] + [
        resp("r11", 11, "2025-05-30 10:00:00")
    ]
    write_partition(lake, "campaign_responses", "2025-06-06", responses)
    write_partition(lake, "campaign_responses", "2025-06-07", responses[:1])  # delivered twice
    write_lake_entity(
        lake,
        "ad_reports",
        "2025-06-03",
        [
            {
                "platform": "meta",
                "campaign_id": SMS_CAMPAIGN,
                "audience_id": "aud1",
                "date": date(2025, 6, 2),
                "impressions": 500,
                "clicks": 12,
                "spend": 150.0,
                "conversions": 1.0,
                "matched_users": 15,
                "uploaded_users": 20,
            },
        ],
    )


def _typed_ts(rows: list[dict], *cols: str) -> list[dict]:
    from datetime import datetime

    return [{**r, **{c: datetime.fromisoformat(r[c]) for c in cols if r.get(c)}} for r in rows]
