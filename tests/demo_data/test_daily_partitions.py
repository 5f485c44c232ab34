"""generate(days=N): one bulk partition, then one partition per day of activity up to as_of."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest

from crmloop.demo_data.generate import generate

from .conftest import AS_OF, Generated
from .readback import be_to_datetime, read_orders

DAYS = 3
DAILY = [AS_OF - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]  # 2026-11-19, -20, -21
BULK = AS_OF - timedelta(days=DAYS)  # 2026-11-18: everything before 2026-11-19
DAILY_SOURCES = ("customers", "orders", "order_lines", "web_events", "consents", "support_tickets")


CUSTOMERS = 6000  # enough for tickets that open on one daily day and close on a later one


@pytest.fixture(scope="module")
def three_days(tmp_path_factory) -> Generated:
    return Generated(tmp_path_factory.mktemp("demo_3days"), customers=CUSTOMERS, days=DAYS)


@pytest.fixture(scope="module")
def one_day(tmp_path_factory) -> Generated:
    """The same people, seed and as_of, written as the bulk and one day."""
    return Generated(tmp_path_factory.mktemp("demo_1day"), customers=CUSTOMERS)


def _part(name: str) -> date:
    return date.fromisoformat(name)


def _clean(g: Generated, df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Rows of `df` (with partition, file, row columns) that are not in the broken-row manifest."""
    broken = set(zip(g.broken["file"], g.broken["row_number"], strict=True))
    rel = source + "/" + df["partition"] + "/" + df["file"]
    keep = [(f, int(r)) not in broken for f, r in zip(rel, df["row"], strict=True)]
    return df[keep]


def _clean_orders(g: Generated) -> pd.DataFrame:
    df = _clean(g, read_orders(g), "orders")
    df["part"] = df["partition"].map(_part)
    return df.sort_values(["part", "file", "row"], kind="stable")


def test_every_daily_source_has_the_bulk_and_one_partition_per_day(three_days):
    expected = {d.isoformat() for d in [BULK, *DAILY]}
    for source in DAILY_SOURCES:
        assert {p.name for p in (three_days.landing / source).iterdir()} == expected, source
    assert {p.name for p in (three_days.landing / "products").iterdir()} == {BULK.isoformat()}
    dealer = {p.name for p in (three_days.landing / "dealer_customers").iterdir()}
    assert BULK.isoformat() in dealer
    assert dealer <= expected
    assert three_days.summary.partitions == sorted(expected)
    listed = {f["path"] for f in three_days.summary.files}
    on_disk = {str(p.relative_to(three_days.landing)) for p in three_days.landing.rglob("*") if p.is_file()}
    assert listed == on_disk
    text = three_days.summary.describe()
    assert "partitions: " + ", ".join(sorted(expected)) in text
    for d in DAILY:
        assert f"orders/{d.isoformat()}/pos_orders.csv" in text


def test_all_partitions_hold_the_same_orders_as_one_day(three_days, one_day):
    many, one = _clean_orders(three_days), _clean_orders(one_day)
    completed = lambda df: set(df.loc[df["status"] == "completed", "order_id"])  # noqa: E731
    assert completed(many) == completed(one)
    assert len(completed(many)) > 1000
    key = lambda df: Counter(zip(df["order_id"], df["status"], df["ordered_at"], strict=True))  # noqa: E731
    assert key(many) == key(one)  # every delivery once: nothing lost, nothing doubled
    assert set(many["order_id"]) == set(three_days.orders_truth["order_id"])


def test_each_daily_order_partition_holds_that_days_orders(three_days):
    df = _clean_orders(three_days)
    df["day"] = df["ts"].dt.date
    first = ~df.duplicated(["order_id", "status"], keep="first")
    bulk = df[df["part"] == BULK]
    assert (bulk["day"] < DAILY[0]).all()
    for d in DAILY:
        rows = df[(df["part"] == d) & first & (df["status"] != "refunded")]
        assert len(rows) > 0, d
        assert (rows["day"] == d).all(), d
        refunds = df[(df["part"] == d) & (df["status"] == "refunded")]
        assert (refunds["day"] <= d).all(), d
    # a repeated delivery never lands before its original's partition, nor after the last day
    original = df[first].set_index(["order_id", "status"])["part"]
    repeats = df[~first]
    assert len(repeats) > 0
    orig_part = original.loc[list(zip(repeats["order_id"], repeats["status"], strict=True))].to_numpy()
    assert (repeats["part"].to_numpy() >= orig_part).all()
    assert (repeats["part"] <= AS_OF).all()
    # order lines go with their order's day
    for d in DAILY:
        path = three_days.landing / "order_lines" / d.isoformat() / "order_lines.parquet"
        lines = pq.read_table(path).to_pandas()
        lines["partition"], lines["file"], lines["row"] = d.isoformat(), path.name, range(1, len(lines) + 1)
        lines = _clean(three_days, lines, "order_lines")
        assert len(lines) > 0, d
        assert set(lines["order_id"]) <= set(df.loc[(df["part"] == d) & (df["day"] == d), "order_id"]), d


def _customers(g: Generated) -> pd.DataFrame:
    frames = []
    for path in g.files("customers", "pos_customers.csv"):
        df = pd.read_csv(path, encoding="cp874", dtype=str, keep_default_na=False, na_values=[""])
        df["reg"], df["upd"] = be_to_datetime(df["registered_at"]), be_to_datetime(df["updated_at"])
        df["partition"], df["file"], df["row"] = path.parent.name, path.name, range(1, len(df) + 1)
        frames.append(df)
    for path in g.files("customers", "loyalty_members.csv"):
        df = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False, na_values=[""])
        for col, src in (("reg", "registered_at"), ("upd", "updated_at")):
            df[col] = pd.to_datetime(df[src], format="%Y-%m-%d %H:%M:%S", errors="coerce")
        df["partition"], df["file"], df["row"] = path.parent.name, path.name, range(1, len(df) + 1)
        frames.append(df)
    for path in g.files("customers", "web_customers.jsonl"):
        if path.stat().st_size == 0:  # a day without web registrations or movers
            continue
        df = pd.read_json(path, lines=True, dtype=False)
        for col, src in (("reg", "registered_at"), ("upd", "updated_at")):
            df[col] = pd.to_datetime(df[src], format="%Y-%m-%dT%H:%M:%S", errors="coerce")
        df["partition"], df["file"], df["row"] = path.parent.name, path.name, range(1, len(df) + 1)
        frames.append(df)
    df = _clean(g, pd.concat(frames, ignore_index=True), "customers")
    df = df.dropna(subset=["source_customer_id", "reg", "upd"]).copy()
    df["part"], df["reg_day"], df["upd_day"] = (
        df["partition"].map(_part),
        df["reg"].dt.date,
        df["upd"].dt.date,
    )
    return df


def test_customers_registered_on_a_day_arrive_in_that_days_partition(three_days):
    df = _customers(three_days)
    assert (df["upd_day"] <= df["part"]).all()  # no record shows an update after its extract's day
    assert (df.loc[df["part"] == BULK, "reg_day"] < DAILY[0]).all()
    assert df["reg_day"].isin(DAILY).sum() > 5
    for d in DAILY:
        registered = df[df["reg_day"] == d]
        assert set(registered["part"]) <= {d}, d  # in that day's partition, in no other
        in_part = df[df["part"] == d]
        # the rest of a day's partition: people who moved that day, registered before it
        moved = in_part[in_part["reg_day"] != d]
        assert len(moved) > 0, d
        assert (moved["reg_day"] < d).all(), d
        assert (moved["upd_day"] == d).all(), d
        assert moved["source_customer_id"].isin(df.loc[df["part"] < d, "source_customer_id"]).all(), d


def test_tickets_closed_on_a_later_day_arrive_again_in_that_days_partition(three_days, one_day):
    def read(g):
        frames = []
        for path in g.files("support_tickets", "support_tickets.csv"):
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
            df["partition"], df["file"], df["row"] = path.parent.name, path.name, range(1, len(df) + 1)
            frames.append(df)
        df = _clean(g, pd.concat(frames, ignore_index=True), "support_tickets").copy()
        df["part"] = df["partition"].map(_part)
        df["opened"] = pd.to_datetime(df["opened_at"], format="%Y-%m-%d %H:%M:%S").dt.date
        df["closed"] = pd.to_datetime(df["closed_at"], format="%Y-%m-%d %H:%M:%S").dt.date
        return df

    df, one = read(three_days), read(one_day)
    assert set(df["ticket_id"]) == set(one["ticket_id"])
    assert (df.loc[df["part"] == BULK, "opened"] < DAILY[0]).all()
    again = 0
    for d in DAILY:
        part = df[df["part"] == d]
        assert len(part) > 0, d
        opened_today = part["opened"] == d
        assert (part.loc[~opened_today, "status"] == "closed").all(), d
        assert (part.loc[~opened_today, "closed"] == d).all(), d
        assert (part.loc[~opened_today, "opened"] < d).all(), d
        assert (part.loc[part["status"] == "closed", "closed"] == d).all(), d
        # each ticket arriving again was delivered open in an earlier partition
        earlier = df[(df["part"] < d) & (df["status"] == "open")]
        assert part.loc[~opened_today, "ticket_id"].isin(earlier["ticket_id"]).all(), d
        again += int((~opened_today).sum())
    assert again > 0
    # a ticket closed on a daily day arrives closed in that day's partition
    closed_daily = df[df["closed"].isin(DAILY)]
    assert (closed_daily["part"] == closed_daily["closed"]).all()


def test_daily_events_and_consents_are_that_days(three_days):
    for d in DAILY:
        ev = pd.read_json(
            three_days.landing / "web_events" / d.isoformat() / "web_events.jsonl", lines=True, dtype=False
        )
        ts = pd.to_datetime(ev["occurred_at"], format="%Y-%m-%dT%H:%M:%S", errors="coerce").dropna()
        assert len(ts) > 0, d
        assert (ts.dt.date == d).all(), d
        co = pd.read_csv(three_days.landing / "consents" / d.isoformat() / "consents.csv", dtype=str)
        cts = pd.to_datetime(co["recorded_at"], format="%Y-%m-%d %H:%M:%S", errors="coerce").dropna()
        assert (cts.dt.date == d).all(), d


def test_days_must_be_at_least_one(tmp_path):
    with pytest.raises(ValueError, match="days"):
        generate(customers=10, out=tmp_path / "landing", as_of=AS_OF, truth_dir=tmp_path / "truth", days=0)
