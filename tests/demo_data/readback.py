"""A tiny reference reader for the demo files, used only to check what the generator wrote."""

from __future__ import annotations

import re

import pandas as pd

BE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})(?: (\d{2}):(\d{2}))?$")


def be_to_datetime(values: pd.Series) -> pd.Series:
    parts = values.astype("string").str.extract(BE)
    year = pd.to_numeric(parts[2], errors="coerce") - 543
    iso = (
        year.astype("Int64").astype("string")
        + "-"
        + parts[1]
        + "-"
        + parts[0]
        + " "
        + parts[3].fillna("00")
        + ":"
        + parts[4].fillna("00")
    )
    return pd.to_datetime(iso, format="%Y-%m-%d %H:%M", errors="coerce")


def parse_amount(values: pd.Series) -> pd.Series:
    cleaned = values.astype("string").str.replace("฿", "", regex=False).str.replace(",", "", regex=False)
    return pd.to_numeric(cleaned, errors="coerce")


def digits(values: pd.Series) -> pd.Series:
    return values.astype("string").str.replace(r"\D", "", regex=True)


def e164(values: pd.Series) -> pd.Series:
    """Thai numbers to +66...; None for junk / empty."""
    d = digits(values)
    d = d.where(~d.str.startswith("66"), "0" + d.str.slice(2))
    ok = d.str.fullmatch(r"0[1-9]\d{7,8}").fillna(False)
    return ("+66" + d.str.slice(1)).where(ok)


def read_orders(g) -> pd.DataFrame:
    frames = []
    for path in g.files("orders", "pos_orders.csv"):
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        df["ts"] = be_to_datetime(df["ordered_at"])
        df["amount"] = parse_amount(df["total_amount"])
        df["partition"], df["file"], df["row"] = path.parent.name, path.name, range(1, len(df) + 1)
        frames.append(df)
    for path in g.files("orders", "web_orders.jsonl"):
        df = pd.read_json(path, lines=True, dtype=False)
        df["ts"] = pd.to_datetime(df["ordered_at"], format="%Y-%m-%dT%H:%M:%S", errors="coerce")
        df["amount"] = pd.to_numeric(df["total_amount"], errors="coerce")
        df["partition"], df["file"], df["row"] = path.parent.name, path.name, range(1, len(df) + 1)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
