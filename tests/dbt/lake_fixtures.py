"""Rows of the lake's customers and orders with sensible defaults, for the dbt scenarios; the
lake files themselves are written by `bench/lake.py` (the writers' schemas, never a copy)."""

from __future__ import annotations


def customer(system: str, cid: str, registered_at: str = "2020-01-01 09:00:00", **kw) -> dict:
    """A customers row with sensible defaults (valid email/mobile only when given)."""
    row = {
        "source_system": system,
        "source_customer_id": cid,
        "first_name": kw.pop("first_name", "Somchai"),
        "last_name": kw.pop("last_name", "Jaidee"),
        "email_valid": kw.get("email") is not None,
        "phone_is_mobile": kw.get("phone") is not None,
        "country": "TH",
        "registered_at": registered_at,
        "updated_at": kw.pop("updated_at", registered_at),
    }
    row.update(kw)
    return row


def order(
    system: str, oid: str, cid: str, ordered_at: str, amount: float, status: str = "completed", **kw
) -> dict:
    row = {
        "source_system": system,
        "order_id": oid,
        "source_customer_id": cid,
        "ordered_at": ordered_at,
        "channel": kw.pop("channel", "store"),
        "store_id": kw.pop("store_id", "S01"),
        "status": status,
        "total_amount": float(amount),
        "currency": "THB",
    }
    row.update(kw)
    return row
