"""Benchmark `crmloop demo-data`: generation time and peak memory.

    .venv/bin/python -m bench.demo_data                      # 1M customers, ~10M orders
    .venv/bin/python -m bench.demo_data --customers 100000

Prints progress to stderr and one JSON object of results as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from crmloop.demo_data.generate import generate


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--orders-scale",
        type=float,
        default=5.0,
        help="multiplies orders per person (5.0 gives ~10 orders per customer)",
    )
    ap.add_argument("--events-scale", type=float, default=1.0)
    ap.add_argument("--as-of", default="2026-11-21")
    ap.add_argument("--out", default=None, help="landing directory (default: a temporary one, removed after)")
    args = ap.parse_args()

    tmp = None
    if args.out:
        out = Path(args.out)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench-demo-data-"))
        out = tmp / "landing"
    t0 = time.monotonic()

    def progress(msg: str) -> None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"[{time.monotonic() - t0:7.1f}s peak {rss:7.0f} MB] {msg}", file=sys.stderr, flush=True)

    try:
        summary = generate(
            customers=args.customers,
            seed=args.seed,
            out=out,
            as_of=date.fromisoformat(args.as_of),
            orders_scale=args.orders_scale,
            events_scale=args.events_scale,
            progress=progress,
        )
        seconds = time.monotonic() - t0
        rows = summary.rows_per_source
        total_rows = sum(rows.values())
        result = {
            "bench": "demo_data",
            "customers": args.customers,
            "orders_scale": args.orders_scale,
            "seconds": round(seconds, 1),
            "rows": rows,
            "total_rows": total_rows,
            "rows_per_second": round(total_rows / seconds),
            "bytes_written": sum(f["bytes"] for f in summary.files),
            "files": len(summary.files),
            "people_by_rank": summary.people_by_rank,
            "cpu_seconds": round(_cpu(), 1),  # user + system: comparable on a shared machine
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
