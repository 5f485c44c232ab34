"""Benchmark: plan → audiences → suppression → rendered messages → marketer files.

Builds a synthetic `marts.customer_profiles` of `--customers` people in a temporary DuckDB
(rank mix of docs/DOMAIN.md: VIP 5.7%, Regular 14.3%, New 57.1%, Prospect 22.9%; Thai and Latin
names; some opt-outs, unknown consents, landlines, missing emails), runs
`prepare_messages` with the default plan's campaigns sent to their whole segments (the worst day;
the calendar itself sends only to who enters) and `write_exports`, and prints one JSON object:
timings per stage, messages per second, counts, and peak RSS.

    .venv/bin/python -m bench.prepare [--customers 100000] [--no-exports]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from activations.audiences.prepare import prepare_messages
from activations.exports.files import write_exports
from activations.plan.spec import DEFAULT_PLAN_PATH, Plan, Reentry, load_plan

AS_OF = date(2026, 11, 21)

PROFILES_SQL = """
CREATE SCHEMA IF NOT EXISTS marts;
CREATE OR REPLACE TABLE marts.customer_profiles AS
WITH g AS (SELECT range AS i, hash(range) AS h FROM range(?))
SELECT
    printf('C%08d', i) AS customer_id,
    DATE '2026-11-21' AS as_of,
    CASE WHEN h % 1000 < 57 THEN 'VIP' WHEN h % 1000 < 200 THEN 'Regular'
         WHEN h % 1000 < 771 THEN 'New' ELSE 'Prospect' END AS rank,
    CASE WHEN i % 3 = 0 THEN ['John', 'Anna', 'Malee', 'Somchai'][1 + i % 4]
         ELSE ['สมชาย', 'สมหญิง', 'วิภา', 'อนันต์', 'มาลี', 'ประยุทธ'][1 + i % 6] END AS first_name,
    CASE WHEN i % 3 = 0 THEN 'Smith' ELSE ['ใจดี', 'รักไทย', 'สุขสวัสดิ์'][1 + i % 3] END AS last_name,
    CASE WHEN i % 20 = 7 THEN NULL ELSE printf('c%d@example.co.th', i) END AS email,
    'pos' AS email_source,
    CASE WHEN i % 50 = 3 THEN printf('+662%07d', i % 10000000) ELSE printf('+6681%07d', i % 10000000) END AS phone,
    'pos' AS phone_source,
    i % 20 <> 7 AS has_valid_email, i % 50 <> 3 AS has_valid_mobile, i % 25 <> 5 AS has_postal_address,
    CASE WHEN i % 25 = 5 THEN NULL ELSE printf('%d ถนนสุขุมวิท', i % 999) END AS address,
    'วัฒนา' AS district, 'กรุงเทพมหานคร' AS province, '10110' AS postal_code,
    'F' AS gender, '25-34' AS age_band, 'engineer' AS occupation,
    TIMESTAMP '2023-01-01 10:00:00' AS first_order_at, TIMESTAMP '2025-06-01 10:00:00' AS last_order_at,
    CASE WHEN h % 1000 >= 771 THEN NULL WHEN (h >> 10) % 5 < 3 THEN 400 ELSE 100 END AS days_since_last_order,
    2 AS orders_3y, 5000.0 AS spend_3y, 2 AS orders_lifetime, 5000.0 AS spend_lifetime, 2500.0 AS avg_order_value,
    'loyal' AS rfm_segment,
    CASE WHEN i % 17 = 0 THEN 'opt_out' WHEN i % 11 = 0 THEN 'unknown' ELSE 'opt_in' END AS consent_email,
    CASE WHEN i % 19 = 0 THEN 'opt_out' WHEN i % 13 = 0 THEN 'unknown' ELSE 'opt_in' END AS consent_sms,
    'opt_in' AS consent_phone, 'opt_in' AS consent_dm,
    CASE WHEN i % 23 = 0 THEN 'unknown' ELSE 'opt_in' END AS consent_ads,
    ['tv', 'fan', 'aircon'][1 + i % 3] AS next_best_category,
    CAST((h >> 20) % 24 AS INTEGER) AS best_send_hour,
    CASE WHEN (h >> 30) % 3 = 0 THEN 'fallback' ELSE 'personal' END AS best_send_hour_source
FROM g
"""


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _whole_segments(plan: Plan) -> Plan:
    """The worst case a day can be: every campaign's whole segment (recurring, re-entry after a day)
    instead of the default calendar's few entrants, so the bench measures the most a run prepares."""
    daily = [
        c.model_copy(
            update={
                "kind": "recurring",
                "reentry": Reentry(after_days=1),
                "trigger": None,
                "send_on": None,
                "follow_ups": [],
                "first_send": None,
            }
        )  # fmt: skip
        for c in plan.campaigns
    ]
    return plan.model_copy(update={"campaigns": daily})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--no-exports", action="store_true")
    args = ap.parse_args()
    plan = _whole_segments(load_plan(DEFAULT_PLAN_PATH))
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        wh = Path(tmp) / "warehouse.duckdb"
        t0 = time.perf_counter()
        con = duckdb.connect(str(wh))
        con.execute(PROFILES_SQL, [args.customers])
        con.close()
        t_gen = time.perf_counter() - t0
        print(f"profiles: {args.customers} in {t_gen:.1f}s", file=sys.stderr, flush=True)
        t1 = time.perf_counter()
        c1 = _cpu_s()
        now = datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("Asia/Bangkok"))
        prepared = prepare_messages(
            wh, plan, AS_OF, date(2026, 11, 22), now, progress=lambda m: print(m, file=sys.stderr, flush=True)
        )
        t_prep = time.perf_counter() - t1
        c_prep = _cpu_s() - c1
        n_msgs = sum(b.eligible for b in prepared.batches())
        audience = sum(b.audience for b in prepared.batches())
        ok = all(b.counts_add_up() for b in prepared.batches())
        t_exp = c_exp = 0.0
        if not args.no_exports:
            t2 = time.perf_counter()
            c2 = _cpu_s()
            write_exports(prepared, Path(tmp) / "exports")
            t_exp = time.perf_counter() - t2
            c_exp = _cpu_s() - c2
        result = {
            "bench": "prepare",
            "customers": args.customers,
            "audience_rows": audience,
            "messages": n_msgs,
            "counts_add_up": ok,
            "profiles_s": round(t_gen, 2),
            "prepare_s": round(t_prep, 2),
            "prepare_cpu_s": round(c_prep, 2),
            "messages_per_s": round(n_msgs / t_prep) if t_prep else None,
            "exports_s": round(t_exp, 2),
            "exports_cpu_s": round(c_exp, 2),
            "load_avg_1m": round(os.getloadavg()[0], 1),
            "peak_rss_mb": _rss_mb(),
        }
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
