"""A small marts.customer_profiles in a tmp DuckDB, with the columns and types customer_profiles.yml declares."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from tests.test_contracts import profile_columns_declared


def profile_ddl() -> str:
    """marts.customer_profiles as customer_profiles.yml declares it (every column, its type), never a copy."""
    cols = ", ".join(f'"{name}" {typ}' for name, typ in profile_columns_declared().items())
    return f"CREATE SCHEMA IF NOT EXISTS marts; CREATE OR REPLACE TABLE marts.customer_profiles ({cols});"


AS_OF = date(2026, 11, 21)

THAI_FIRST = ["สมชาย", "สมหญิง", "ประยุทธ", "วิภา", "อนันต์", "มาลี"]
THAI_LAST = ["ใจดี", "รักไทย", "สุขสวัสดิ์", "มั่นคง"]
LATIN_FIRST = ["John", "Anna", "Somchai", "Malee"]


def profile(customer_id: str, rank: str, **kw) -> dict:
    i = int("".join(ch for ch in customer_id if ch.isdigit()) or 0)
    thai = i % 3 != 0
    row = {
        "customer_id": customer_id,
        "as_of": AS_OF,
        "rank": rank,
        "first_name": (THAI_FIRST if thai else LATIN_FIRST)[i % (6 if thai else 4)],
        "last_name": THAI_LAST[i % 4] if thai else "Smith",
        "email": f"c{i}@example.co.th",
        "email_source": "pos",
        "phone": f"+6681{i:07d}",
        "phone_source": "pos",
        "has_valid_email": True,
        "has_valid_mobile": True,
        "has_postal_address": True,
        "address": f"{i} ถนนสุขุมวิท",
        "district": "วัฒนา",
        "province": "กรุงเทพมหานคร",
        "postal_code": "10110",
        "gender": "F" if i % 2 else "M",
        "age_band": "25-34",
        "occupation": "engineer",
        "first_order_at": None if rank == "Prospect" else pd.Timestamp("2023-01-01 10:00"),
        "last_order_at": None if rank == "Prospect" else pd.Timestamp("2026-10-01 10:00"),
        "days_since_last_order": None if rank == "Prospect" else 51,
        "orders_3y": 0 if rank == "Prospect" else 2,
        "spend_3y": 0.0 if rank == "Prospect" else 5000.0,
        "orders_lifetime": 0 if rank == "Prospect" else 2,
        "spend_lifetime": 0.0 if rank == "Prospect" else 5000.0,
        "avg_order_value": None if rank == "Prospect" else 2500.0,
        "rfm_segment": "loyal",
        "consent_email": "opt_in",
        "consent_sms": "opt_in",
        "consent_phone": "opt_in",
        "consent_dm": "opt_in",
        "consent_ads": "opt_in",
        "best_send_hour": 9 + i % 12,  # 09:00-20:00, never null (int_best_send_hour)
        "best_send_hour_source": "personal" if i % 4 else "fallback",
    }
    row.update(kw)
    return row


def write_profiles(path: Path, rows: list[dict]) -> Path:
    df = pd.DataFrame(rows)  # noqa: F841 - used by name in SQL
    con = duckdb.connect(str(path))
    try:
        con.execute(profile_ddl())
        cols = ", ".join(pd.DataFrame(rows).columns)
        con.execute(f"INSERT INTO marts.customer_profiles ({cols}) SELECT {cols} FROM df")
    finally:
        con.close()
    return path


def standard_rows(n_per_rank: int = 20) -> list[dict]:
    rows = []
    k = 0
    for rank in ("VIP", "Regular", "New", "Prospect", "Dormant"):
        for _ in range(n_per_rank):
            k += 1
            kw = {}
            if rank == "Regular":
                kw["days_since_last_order"] = 400 if k % 2 else 100
            rows.append(profile(f"C{k:05d}", rank, **kw))
    return rows


def append_profiles(path: Path, rows: list[dict]) -> None:
    """Add rows (e.g. another as_of's snapshot) to an existing marts.customer_profiles."""
    df = pd.DataFrame(rows)  # noqa: F841 - used by name in SQL
    con = duckdb.connect(str(path))
    try:
        cols = ", ".join(pd.DataFrame(rows).columns)
        con.execute(f"INSERT INTO marts.customer_profiles ({cols}) SELECT {cols} FROM df")
    finally:
        con.close()
