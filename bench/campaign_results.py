"""Benchmark: campaign state export (warehouse → lake) and the campaign report.

Builds a synthetic audience snapshot / suppressions / send ledger of `--members` rows in a
temporary DuckDB (10% holdout, 8% suppressed, 1% failed, the rest sent), runs
`export_campaign_state` with the default plan, then renders the campaign report on synthetic
campaign marts, and prints one JSON object: seconds per stage, rows/s, file size, peak RSS.

    .venv/bin/python -m bench.campaign_results [--members 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from activations.audiences.suppression import CAMPAIGN_SUPPRESSIONS_DDL, CAMPAIGN_SUPPRESSIONS_TABLE
from activations.audiences.tables import AUDIENCE_DDL, AUDIENCE_SNAPSHOTS_TABLE, SCHEMA
from activations.delivery.campaign_state import export_campaign_state
from activations.delivery.ledger import DDL as LEDGER_DDL
from activations.exports.campaign_report import report_markdown, write_report
from activations.plan.spec import DEFAULT_PLAN_PATH, load_plan

SEND = date(2025, 6, 1)


def build_state(warehouse: Path, members: int) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(f"create schema if not exists {SCHEMA}")
        con.execute(AUDIENCE_DDL.format(name=AUDIENCE_SNAPSHOTS_TABLE))
        con.execute(
            f"""insert into {AUDIENCE_SNAPSHOTS_TABLE} by name
            select 'new_thank_you' as campaign_id, 'C' || lpad(cast(i as varchar), 20, '0') as customer_id,
                   'email' as channel, i % 10 = 0 as holdout, 'segment' as reason_included,
                   'person' || cast(i as varchar) || '@example.com' as address,
                   date '{SEND}' as as_of, date '{SEND}' as send_date
            from range({members}) t(i)"""
        )
        con.execute(LEDGER_DDL)
        con.execute(CAMPAIGN_SUPPRESSIONS_DDL)
        con.execute(
            f"""insert into {CAMPAIGN_SUPPRESSIONS_TABLE}
            select campaign_id, customer_id, channel, 'no_consent' as reason, send_date
            from {AUDIENCE_SNAPSHOTS_TABLE}
            where not holdout and hash(customer_id) % 100 < 8"""
        )
        con.execute(
            f"""insert into activations.send_ledger (campaign_id, customer_id, channel, send_date, send_id,
                   batch_id, address, status, reason, intent_at)
            select a.campaign_id, a.customer_id, a.channel, a.send_date, md5(a.customer_id), 'b', a.address,
                   case when hash(a.customer_id) % 100 = 99 then 'failed' else 'sent' end,
                   case when hash(a.customer_id) % 100 = 99 then 'invalid_email' end, now()::timestamp
            from {AUDIENCE_SNAPSHOTS_TABLE} a
            anti join {CAMPAIGN_SUPPRESSIONS_TABLE} s using (campaign_id, customer_id, channel)
            where not a.holdout"""
        )
    finally:
        con.close()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    out: dict = {"members": args.members}
    with tempfile.TemporaryDirectory(prefix="bench-campaigns-") as tmp:
        tmp = Path(tmp)
        wh = tmp / "warehouse.duckdb"
        t0 = time.perf_counter()
        build_state(wh, args.members)
        out["setup_seconds"] = round(time.perf_counter() - t0, 2)
        t0, c0 = time.perf_counter(), time.process_time()
        res = export_campaign_state(
            wh,
            tmp / "lake",
            load_plan(DEFAULT_PLAN_PATH),
            SEND,
            state_dir=tmp / "campaign_state",
            quarantine_dir=tmp / "quarantine",
        )
        secs = time.perf_counter() - t0
        out["export_seconds"] = round(secs, 2)
        out["export_cpu_seconds"] = round(time.process_time() - c0, 2)
        out["export_rows_per_second"] = round(res["campaign_sends"] / secs)
        out["outcomes"] = res["outcomes"]
        out["campaign_sends_bytes"] = sum(Path(f).stat().st_size for f in res["files"]["campaign_sends"])
        t0 = time.perf_counter()
        html = write_report(wh, tmp / "reports", SEND)  # marts not built here: the empty-report path
        md = report_markdown(wh, SEND)
        out["report_seconds_empty_marts"] = round(time.perf_counter() - t0, 2)
        out["report_bytes"] = html.stat().st_size
        out["markdown_bytes"] = len(md)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
