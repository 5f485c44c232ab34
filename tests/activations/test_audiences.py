from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from activations.audiences.build import build_audiences, holdout_score, is_holdout
from activations.plan.spec import load_plan, parse_plan
from tests.activations.plan_fixture import DAILY_PLAN_PATH
from tests.activations.profiles_fixture import AS_OF, profile, standard_rows, write_profiles

PLAN_PATH = DAILY_PLAN_PATH  # the mechanics after entry; journeys: test_journeys.py
SEND = date(2026, 11, 22)


def _rows(wh: Path, sql: str, params=None):
    con = duckdb.connect(str(wh))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_holdout_is_stable_and_close_to_share():
    assert holdout_score("c", "C1") == holdout_score("c", "C1")
    assert holdout_score("c", "C1") != holdout_score("d", "C1")
    ids = [f"C{i}" for i in range(20000)]
    share = sum(is_holdout("prospect_welcome", i, 0.10) for i in ids) / len(ids)
    assert 0.09 < share < 0.11
    assert not any(is_holdout("x", i, 0.0) for i in ids[:100])


def test_build_audiences_writes_tables(tmp_path: Path):
    wh = write_profiles(tmp_path / "w.duckdb", standard_rows(20))
    summary = build_audiences(wh, PLAN_PATH, AS_OF, SEND)
    assert summary.counts["vip_party"]["phone"]["audience"] == 20
    assert summary.counts["vip_party"]["direct_mail"]["audience"] == 20
    assert (
        summary.counts["regular_winback"]["email"]["audience"] == 10
    )  # days_since_last_order > 120 only (the fixture's 400, not 100)
    assert summary.counts["new_thank_you"]["email"]["audience"] == 20
    assert {ch: c["audience"] for ch, c in summary.counts["prospect_welcome"].items()} == {
        "email": 20, "sms": 20, "ads": 20,
    }  # fmt: skip
    assert summary.total() == 130
    rows = _rows(wh, "SELECT campaign_id, channel, count(*), sum(holdout::INT) FROM activations.campaign_audiences "
                     "GROUP BY ALL ORDER BY ALL")  # fmt: skip
    assert sum(r[2] for r in rows) == 130
    for cid, ch, _, hold in rows:
        assert hold == summary.counts[cid][ch]["holdout"]
    # the same person is held out on every channel of a campaign
    assert _rows(
        wh,
        "SELECT count(*) FROM (SELECT customer_id FROM activations.campaign_audiences "
        "WHERE campaign_id = 'vip_party' GROUP BY customer_id HAVING count(DISTINCT holdout) > 1)",
    ) == [(0,)]
    reg = _rows(
        wh,
        "SELECT DISTINCT reason_included FROM activations.campaign_audiences WHERE campaign_id = 'regular_winback'",
    )
    assert reg == [("rank = 'Regular' AND days_since_last_order > 120",)]
    addr = dict(
        _rows(wh, "SELECT channel, address FROM activations.campaign_audiences WHERE customer_id = 'C00061'")
    )
    assert addr == {"email": "c61@example.co.th", "sms": "+66810000061", "ads": "c61@example.co.th"}
    mail = _rows(
        wh,
        "SELECT address FROM activations.campaign_audiences WHERE customer_id = 'C00001' AND channel = 'direct_mail'",
    )
    assert mail == [("1 ถนนสุขุมวิท วัฒนา กรุงเทพมหานคร 10110",)]


def test_holdout_same_across_runs_and_snapshot_per_send_date(tmp_path: Path):
    wh = write_profiles(tmp_path / "w.duckdb", standard_rows(30))
    build_audiences(wh, PLAN_PATH, AS_OF, SEND)
    first = _rows(
        wh,
        "SELECT campaign_id, customer_id, channel, holdout FROM activations.campaign_audiences ORDER BY ALL",
    )
    build_audiences(wh, PLAN_PATH, AS_OF, SEND)  # rerun of the same send date
    assert (
        _rows(
            wh,
            "SELECT campaign_id, customer_id, channel, holdout FROM activations.campaign_audiences ORDER BY ALL",
        )
        == first
    )
    assert _rows(wh, "SELECT count(*) FROM activations.campaign_audience_snapshots") == [(len(first),)]
    build_audiences(wh, PLAN_PATH, SEND, date(2026, 11, 23))  # next day keeps the previous snapshot
    snap = dict(
        _rows(wh, "SELECT send_date, count(*) FROM activations.campaign_audience_snapshots GROUP BY ALL")
    )
    assert snap == {SEND: len(first), date(2026, 11, 23): len(first)}
    assert _rows(wh, "SELECT DISTINCT send_date FROM activations.campaign_audiences") == [
        (date(2026, 11, 23),)
    ]


def test_inactive_campaigns_and_conditions(tmp_path: Path):
    rows = [
        profile("C1", "VIP", province="เชียงใหม่"),
        profile("C2", "VIP", province="กรุงเทพมหานคร"),
        profile("C3", "VIP", province=None),
    ]
    wh = write_profiles(tmp_path / "w.duckdb", rows)
    text = PLAN_PATH.read_text(encoding="utf-8")
    text = text.replace(
        "      rank: VIP\n      conditions: []",
        "      rank: VIP\n      conditions:\n        - {field: province, op: in, value: [เชียงใหม่]}",
    ).replace(
        "    end_date: 2030-12-31\n    holdout_share: 0.05",
        "    end_date: 2025-12-31\n    holdout_share: 0.05",
    )
    plan = parse_plan(text, "plan.yml")
    summary = build_audiences(wh, plan, AS_OF, SEND)
    assert summary.inactive == ["new_thank_you"]
    assert summary.counts["vip_party"]["phone"]["audience"] == 1
    assert _rows(wh, "SELECT DISTINCT customer_id FROM activations.campaign_audiences") == [("C1",)]


def test_missing_profiles_table_is_a_clear_error(tmp_path: Path):
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    with pytest.raises(LookupError, match="marts.customer_profiles does not exist"):
        build_audiences(tmp_path / "w.duckdb", load_plan(PLAN_PATH), AS_OF, SEND)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(
        "CREATE SCHEMA marts; CREATE TABLE marts.customer_profiles (customer_id VARCHAR, rank VARCHAR)"
    )
    con.close()
    with pytest.raises(LookupError, match="lacks column"):
        build_audiences(tmp_path / "w.duckdb", load_plan(PLAN_PATH), AS_OF, SEND)


def test_reads_newest_profile_snapshot_not_after_as_of(tmp_path: Path):
    rows = [profile("C1", "VIP", as_of=date(2026, 11, 20)), profile("C2", "VIP", as_of=AS_OF),
            profile("C3", "VIP", as_of=date(2026, 11, 25))]  # fmt: skip
    wh = write_profiles(tmp_path / "w.duckdb", rows)
    build_audiences(wh, PLAN_PATH, AS_OF, SEND)
    assert _rows(wh, "SELECT DISTINCT customer_id FROM activations.campaign_audiences") == [("C2",)]


def test_condition_on_a_column_the_warehouse_lacks(tmp_path: Path):
    wh = write_profiles(tmp_path / "w.duckdb", standard_rows(2))
    con = duckdb.connect(str(wh))
    con.execute("ALTER TABLE marts.customer_profiles DROP COLUMN top_category")  # e.g. an older warehouse
    con.close()
    text = PLAN_PATH.read_text(encoding="utf-8").replace(
        "      rank: VIP\n      conditions: []",
        "      rank: VIP\n      conditions:\n        - {field: top_category, op: '=', value: phones}",
    )
    with pytest.raises(LookupError, match=r"'vip_party'.*\['top_category'\].*lacks"):
        build_audiences(wh, parse_plan(text, "plan.yml"), AS_OF, SEND)


def test_vectorised_addresses_match_the_row_rules():
    import pandas as pd

    from activations.audiences.build import channel_address, channel_addresses

    rows = [
        profile("C1", "VIP"),
        profile("C2", "VIP", email=" Mixed@Example.CO.TH ", address="  ", district=None),
        profile("C3", "VIP", email=None, phone=None, address="9 ซอย 5", province=None, postal_code=""),
        profile("C4", "VIP", email="", phone="+66812345678", district=""),
    ]
    df = pd.DataFrame(rows)
    for ch in ("email", "sms", "phone", "ads", "direct_mail"):
        assert channel_addresses(df, ch).tolist() == [channel_address(ch, r) for r in rows], ch


def test_duplicate_profile_rows_are_a_clear_error(tmp_path: Path):
    wh = write_profiles(tmp_path / "w.duckdb", [profile("C1", "VIP"), profile("C1", "VIP")])
    with pytest.raises(LookupError, match=r"duplicate customer_id.*'vip_party'.*\['C1'\]"):
        build_audiences(wh, PLAN_PATH, AS_OF, SEND)


def test_empty_segments_give_empty_batches(tmp_path: Path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from activations.audiences.prepare import prepare_messages

    wh = write_profiles(tmp_path / "w.duckdb", [profile("C1", "Dormant")])  # in no campaign's segment
    prepared = prepare_messages(
        wh, PLAN_PATH, AS_OF, SEND, datetime(2026, 11, 22, 12, tzinfo=ZoneInfo("Asia/Bangkok"))
    )
    batches = list(prepared.batches())
    assert len(batches) == 7 and all(b.audience == b.eligible == 0 and b.sample is None for b in batches)
    assert list(prepared.messages()) == []
    assert _rows(wh, "SELECT count(*) FROM activations.campaign_audiences") == [(0,)]


def test_a_warehouse_with_audiences_in_marts_moves_them_to_activations(tmp_path: Path):
    """Before the audience stage left dbt's `marts`, it wrote marts.campaign_audience_snapshots: the
    next write carries those earlier send dates over (the gate's size band reads them) and drops them."""
    wh = write_profiles(tmp_path / "w.duckdb", standard_rows())
    build_audiences(wh, PLAN_PATH, AS_OF, SEND)
    con = duckdb.connect(str(wh))
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute(
        "CREATE TABLE marts.campaign_audience_snapshots AS SELECT * FROM activations.campaign_audience_snapshots"
    )
    con.execute("UPDATE marts.campaign_audience_snapshots SET send_date = DATE '2026-11-01'")
    con.execute("CREATE TABLE marts.campaign_audiences AS SELECT * FROM activations.campaign_audiences")
    con.execute("DROP TABLE activations.campaign_audience_snapshots")
    legacy = con.execute("SELECT count(*) FROM marts.campaign_audience_snapshots").fetchall()[0][0]
    con.close()
    build_audiences(wh, PLAN_PATH, AS_OF, SEND)
    snap = dict(
        _rows(wh, "SELECT send_date, count(*) FROM activations.campaign_audience_snapshots GROUP BY ALL")
    )
    assert snap[date(2026, 11, 1)] == legacy > 0
    assert _rows(
        wh,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts' AND table_name LIKE 'campaign_aud%'",
    ) == [(0,)]


def test_prediction_fields_are_segment_conditions(tmp_path: Path):
    # p_alive < 0.5 and clv_12m >= 20000 select on customer_profiles' prediction columns
    from activations.audiences.build import select_segment

    rows = [
        profile("C1", "VIP", p_alive=0.3, clv_12m=25000.0),
        profile("C2", "VIP", p_alive=0.7, clv_12m=25000.0),
        profile("C3", "VIP", p_alive=0.3, clv_12m=19999.0),
        profile("C4", "VIP"),  # no prediction (null): never matches
    ]
    wh = write_profiles(tmp_path / "w.duckdb", rows)
    text = PLAN_PATH.read_text(encoding="utf-8").replace(
        "      rank: VIP\n      conditions: []",
        "      rank: VIP\n      conditions:\n        - {field: p_alive, op: '<', value: 0.5}\n"
        "        - {field: clv_12m, op: '>=', value: 20000}",
    )
    camp = parse_plan(text, "plan.yml").campaign("vip_party")
    con = duckdb.connect(str(wh))
    try:
        assert select_segment(con, camp, AS_OF)["customer_id"].tolist() == ["C1"]
    finally:
        con.close()
