"""Small, contract-following lake partitions for the quality tests (pyarrow, no I/O beyond tmp)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sources.schema import entity_schema


def customers_table(n: int, *, seed: int = 0, source: str = "crm_customers", start: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = [f"C{start + i:07d}" for i in range(n)]
    mobiles = [f"+6681{int(x):07d}" for x in rng.integers(0, 9_999_999, n)]
    births = [date(1960, 1, 1) + timedelta(days=int(x)) for x in rng.integers(0, 15_000, n)]
    reg = [datetime(2023, 1, 1) + timedelta(minutes=int(x)) for x in rng.integers(0, 500_000, n)]
    data = {
        "source_system": ["crm"] * n,
        "source_customer_id": ids,
        "first_name": [f"สมชาย{i}" for i in range(n)],
        "last_name": [f"ใจดี{i}" for i in range(n)],
        "email": [f"user{start + i}@example.co.th" for i in range(n)],
        "email_valid": [True] * n,
        "phone": mobiles,
        "phone_raw": [m.replace("+66", "0") for m in mobiles],
        "phone_is_mobile": [True] * n,
        "gender": [("M", "F")[i % 2] for i in range(n)],
        "birth_date": births,
        "occupation": ["engineer"] * n,
        "address": ["99 ถนนสุขุมวิท"] * n,
        "district": ["วัฒนา"] * n,
        "province": ["กรุงเทพมหานคร"] * n,
        "postal_code": ["10110"] * n,
        "country": ["TH"] * n,
        "loyalty_card_id": [f"L{i}" for i in range(n)],
        "registered_at": reg,
        "updated_at": reg,
        "nulled_fields": [None] * n,
        "_source": [source] * n,
        "_source_file": [f"{source}/customers.csv"] * n,
        "_row_number": list(range(1, n + 1)),
    }
    return pa.table(data, schema=entity_schema("customers"))


def orders_table(
    n: int, customer_ids: list[str], day: date, *, seed: int = 0, source: str = "pos_orders"
) -> pa.Table:
    rng = np.random.default_rng(seed)
    cust = [customer_ids[int(x)] for x in rng.integers(0, len(customer_ids), n)]
    data = {
        "source_system": ["crm"] * n,
        "order_id": [f"O{day:%Y%m%d}{i:06d}" for i in range(n)],
        "source_customer_id": cust,
        "ordered_at": [
            datetime.combine(day, datetime.min.time()) + timedelta(seconds=int(x))
            for x in rng.integers(0, 86_000, n)
        ],
        "channel": ["store"] * n,
        "store_id": ["S1"] * n,
        "status": ["completed"] * n,
        "total_amount": rng.uniform(50, 5000, n).round(2),
        "currency": ["THB"] * n,
        "_source": [source] * n,
        "_source_file": [f"{source}/{day}/orders.csv"] * n,
        "_row_number": list(range(1, n + 1)),
    }
    return pa.table(data, schema=entity_schema("orders"))


def write_partition(lake: Path, entity: str, source: str, day: date, table: pa.Table, part: int = 0) -> Path:
    folder = lake / entity / f"load_date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source}-{part:04d}.parquet"
    pq.write_table(table, path)
    return path


def build_clean_lake(
    lake: Path, as_of: date, *, days: int = 8, customers: int = 200, orders_per_day: int = 100
) -> list[str]:
    """customers (one snapshot on the first day) + orders every day up to as_of. Returns customer ids."""
    first = as_of - timedelta(days=days - 1)
    cust = customers_table(customers)
    write_partition(lake, "customers", "crm_customers", first, cust)
    ids = cust.column("source_customer_id").to_pylist()
    for k in range(days):
        d = first + timedelta(days=k)
        write_partition(lake, "orders", "pos_orders", d, orders_table(orders_per_day, ids, d, seed=k))
    return ids
