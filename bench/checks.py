"""Benchmark: the time and memory the data-quality checks add to one daily run.

    .venv/bin/python -m bench.checks [--scale 1.0] [--days 1095] [--workdir DIR] [--keep]

At scale 1.0 it writes a lake of 1M customers (one snapshot partition + a daily delta) and
10M orders spread over `--days` daily partitions (numpy/pyarrow, in a child process so the
generator's memory does not count), then times, in this process, the checks a daily run adds:
- orders partition of the as-of day (schema, rows, referential against 1M customers via
  DuckDB, volume from the footers of every trailing partition, freshness);
- customers delta partition of the as-of day;
- customers full 1M snapshot partition (worst case: a source that delivers full extracts);
- the audience gate over a 35k-row audience (4 campaigns × channels).
Prints one JSON object: seconds per check, rows, peak RSS (MB) of the checks process.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

AS_OF = date(2026, 11, 20)


def _rss_mb(who=resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def _customers(n: int, start: int, seed: int):
    import numpy as np
    import pyarrow as pa

    from sources.schema import entity_schema

    rng = np.random.default_rng(seed)
    idx = np.arange(start, start + n)
    ids = np.char.add("C", np.char.zfill(idx.astype(str), 8))
    mobile = np.char.add("+668", np.char.zfill(rng.integers(0, 99_999_999, n).astype(str), 8))
    email = np.char.add(np.char.add("user", idx.astype(str)), "@example.co.th")
    email = np.where(rng.random(n) < 0.1, None, email)
    births = (np.datetime64("1950-01-01") + rng.integers(0, 20_000, n).astype("timedelta64[D]")).astype(
        "datetime64[D]"
    )
    reg = np.datetime64("2015-01-01T00:00:00") + rng.integers(0, 250_000_000, n).astype("timedelta64[s]")
    const = lambda v: pa.array([v] * n, pa.string())  # noqa: E731
    data = {
        "source_system": const("crm"),
        "source_customer_id": pa.array(ids),
        "first_name": const("สมชาย"),
        "last_name": const("ใจดี"),
        "email": pa.array(email, pa.string()),
        "email_valid": pa.array(np.ones(n, bool)),
        "phone": pa.array(mobile),
        "phone_raw": pa.array(mobile),
        "phone_is_mobile": pa.array(np.ones(n, bool)),
        "gender": pa.array(np.where(idx % 2 == 0, "M", "F")),
        "birth_date": pa.array(births, pa.date32()),
        "occupation": const("engineer"),
        "address": const("99 ถนนสุขุมวิท"),
        "district": const("วัฒนา"),
        "province": const("กรุงเทพมหานคร"),
        "postal_code": const("10110"),
        "country": const("TH"),
        "loyalty_card_id": pa.array(np.char.add("L", idx.astype(str))),
        "registered_at": pa.array(reg.astype("datetime64[us]"), pa.timestamp("us")),
        "updated_at": pa.array(reg.astype("datetime64[us]"), pa.timestamp("us")),
        "_source": const("crm_customers"),
        "_source_file": const("crm_customers/customers.csv"),
        "_row_number": pa.array(np.arange(1, n + 1, dtype=np.int64)),
    }
    return pa.table(data, schema=entity_schema("customers"))


def _orders(n: int, day: date, n_customers: int, seed: int):
    import numpy as np
    import pyarrow as pa

    from sources.schema import entity_schema

    rng = np.random.default_rng(seed)
    cust = np.char.add("C", np.char.zfill(rng.integers(0, n_customers, n).astype(str), 8))
    oid = np.char.add(f"O{day:%Y%m%d}", np.char.zfill(np.arange(n).astype(str), 6))
    ts = np.datetime64(datetime.combine(day, datetime.min.time())) + rng.integers(0, 86_000, n).astype(
        "timedelta64[s]"
    )
    status = rng.choice(np.array(["completed", "cancelled", "refunded"]), n, p=[0.9, 0.07, 0.03])
    const = lambda v: pa.array([v] * n, pa.string())  # noqa: E731
    data = {
        "source_system": const("crm"),
        "order_id": pa.array(oid),
        "source_customer_id": pa.array(cust),
        "ordered_at": pa.array(ts.astype("datetime64[us]"), pa.timestamp("us")),
        "channel": const("store"),
        "store_id": const("S001"),
        "status": pa.array(status),
        "total_amount": pa.array(rng.uniform(50, 20_000, n).round(2)),
        "currency": const("THB"),
        "_source": const("pos_orders"),
        "_source_file": const(f"pos_orders/{day}/orders.csv"),
        "_row_number": pa.array(np.arange(1, n + 1, dtype=np.int64)),
    }
    return pa.table(data, schema=entity_schema("orders"))


def _write(lake: Path, entity: str, source: str, day: date, table) -> None:
    import pyarrow.parquet as pq

    folder = lake / entity / f"load_date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"{source}-0000.parquet")


def generate(lake: str, customers: int, orders: int, days: int) -> None:
    lake_dir = Path(lake)
    first = AS_OF - timedelta(days=days - 1)
    delta = max(customers // 1000, 10)
    _write(lake_dir, "customers", "crm_full", first, _customers(customers, 0, 1))
    _write(lake_dir, "customers", "crm_customers", AS_OF, _customers(delta, customers - delta, 2))
    per_day = orders // days
    for k in range(days):
        d = first + timedelta(days=k)
        _write(lake_dir, "orders", "pos_orders", d, _orders(per_day, d, customers, 100 + k))
        if k % 100 == 0:
            print(f"generated {k + 1}/{days} order partitions", file=sys.stderr, flush=True)


def _audience(n: int):
    import numpy as np
    import pandas as pd

    idx = np.arange(n)
    channels = np.array(["email", "sms", "direct_mail", "ads"])[idx % 4]
    campaigns = np.array(["new_thanks", "welcome", "vip_party", "prospect"])[idx % 4]
    address = np.where(
        channels == "email",
        np.char.add(np.char.add("u", idx.astype(str)), "@example.co.th"),
        np.where(
            channels == "direct_mail",
            np.char.add(idx.astype(str), " ถนนสุขุมวิท วัฒนา กรุงเทพมหานคร 10110"),
            np.char.add("+6681", np.char.zfill(idx.astype(str), 7)),
        ),
    )
    return pd.DataFrame(
        {
            "campaign_id": campaigns,
            "customer_id": np.char.add("C", idx.astype(str)),
            "channel": channels,
            "holdout": idx % 10 == 0,
            "address": address,
            "consent": "opt_in",
        }
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M customers, 10M orders")
    ap.add_argument("--days", type=int, default=1095, help="daily order partitions (3 years)")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the generated lake")
    args = ap.parse_args(argv)

    customers = int(1_000_000 * args.scale)
    orders = int(10_000_000 * args.scale)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="crm-bench-checks-"))
    lake = work / "lake"
    docs = work / "data_docs"
    out: dict = {
        "bench": "checks",
        "scale": args.scale,
        "customers": customers,
        "orders": orders,
        "days": args.days,
    }
    try:
        t0 = time.perf_counter()
        if not (lake / "orders").is_dir():
            proc = mp.get_context("spawn").Process(
                target=generate, args=(str(lake), customers, orders, args.days)
            )
            proc.start()
            proc.join()
            if proc.exitcode != 0:
                raise SystemExit(f"generator failed with exit code {proc.exitcode}")
        out["generate_seconds"] = round(time.perf_counter() - t0, 1)
        out["generator_peak_rss_mb"] = _rss_mb(resource.RUSAGE_CHILDREN)

        from crmloop.settings import QualityThresholds

        t = time.perf_counter()
        import great_expectations  # noqa: F401  (import cost counted separately: paid once per run process)

        out["gx_import_seconds"] = round(time.perf_counter() - t, 2)
        from activations.audiences.gate import validate_audiences
        from sources.quality import validate_partition
        from sources.quality.lake import partition_stats

        q = QualityThresholds()
        rss_before = _rss_mb()
        checks = {}
        for label, source, entity, day in [
            ("orders_partition", "pos_orders", "orders", AS_OF),
            ("customers_delta_partition", "crm_customers", "customers", AS_OF),
            ("customers_full_snapshot", "crm_full", "customers", AS_OF - timedelta(days=args.days - 1)),
        ]:
            t = time.perf_counter()
            rep = validate_partition(source, entity, day, lake_dir=lake, docs_dir=docs, thresholds=q)
            rows = sum(s.rows for s in partition_stats(lake, entity, source) if s.load_date == day)
            checks[label] = {
                "seconds": round(time.perf_counter() - t, 2),
                "expectations": len(rep.outcomes),
                "error_failures": [o.name for o in rep.failures("ERROR")],
                "rows_in_partition": rows,
                "peak_rss_mb_so_far": _rss_mb(),
            }
            print(f"{label}: {checks[label]}", file=sys.stderr, flush=True)
        frame = _audience(int(35_000 * max(args.scale, 0.01)))
        t = time.perf_counter()
        rep = validate_audiences(frame, {}, docs_dir=docs, thresholds=q)
        checks["audiences_35k"] = {
            "seconds": round(time.perf_counter() - t, 2),
            "expectations": len(rep.outcomes),
            "error_failures": [o.name for o in rep.failures("ERROR")],
            "peak_rss_mb_so_far": _rss_mb(),
        }
        out["checks"] = checks
        out["daily_checks_seconds_excluding_full_snapshot"] = round(
            sum(v["seconds"] for k, v in checks.items() if k != "customers_full_snapshot"), 2
        )
        out["rss_before_checks_mb"] = rss_before
        out["peak_rss_mb"] = _rss_mb()
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
