"""Journeys: who enters a campaign on which day, once, and what follow-ups fall due.

Small constructed warehouses: one profile snapshot per as_of (marts.customer_profiles keeps
several as_of's; the audiences read the newest on or before D), the default plan (or a variant),
and consecutive daily runs (as_of D → send date D + 1, as the daily partition does)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from activations.audiences import build as build_mod
from activations.audiences.build import build_audiences
from activations.audiences.journeys import MEMBERSHIP_TABLE, journey_day_summary
from activations.delivery.ledger import DDL as LEDGER_DDL
from activations.plan.spec import DEFAULT_PLAN_PATH, parse_plan
from bench.lake import write_partition
from tests.activations.profiles_fixture import append_profiles, profile, write_profiles
from tests.campaigns.scenario import write_lake_entity

D0 = date(2026, 11, 10)


def _ts(d: date) -> pd.Timestamp:
    return pd.Timestamp(d) + pd.Timedelta(hours=10)


def _rows(wh: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(wh))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _plan(replace: dict[str, str] | None = None):
    text = DEFAULT_PLAN_PATH.read_text(encoding="utf-8")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return parse_plan(text, "plan.yml")


def _sent(wh: Path, campaign: str, channel: str | None = None) -> list[tuple]:
    """(send_date, customer_id) of the audience snapshots (everyone the day's run would send to)."""
    sql = "SELECT send_date, customer_id FROM activations.campaign_audience_snapshots WHERE campaign_id = ?"
    params: list = [campaign]
    if channel:
        sql += " AND channel = ?"
        params.append(channel)
    return _rows(wh, sql + " ORDER BY ALL", params)


def _new_buyer(cid: str, first: date, as_of: date) -> dict:
    return profile(
        cid,
        "New",
        as_of=as_of,
        first_order_at=_ts(first),
        last_order_at=_ts(first),
        days_since_last_order=(as_of - first).days,
        orders_lifetime=1,
    )


def _days(wh: Path, plan, first_as_of: date, n: int, rows_for) -> None:
    """Run n consecutive days: profiles of as_of D from rows_for(D), audiences for send date D + 1."""
    for k in range(n):
        d = first_as_of + timedelta(days=k)
        append_profiles(wh, rows_for(d))
        build_audiences(wh, plan, d, d + timedelta(days=1))


def test_first_purchase_gets_one_thank_you_the_next_day_and_none_later(tmp_path: Path):
    wh = write_profiles(tmp_path / "w.duckdb", [profile("C00001", "VIP", as_of=D0 - timedelta(days=30))])
    plan = _plan()

    def rows(d: date) -> list[dict]:
        out = [_new_buyer("C00002", date(2023, 1, 1), d)]  # bought long ago: never thanked
        if d >= D0:
            out.append(_new_buyer("C00003", D0, d))  # first purchase on D0
        return out

    _days(wh, plan, D0 - timedelta(days=1), 6, rows)
    assert _sent(wh, "new_thank_you") == [(D0 + timedelta(days=1), "C00003")]
    members = _rows(wh, f"SELECT customer_id, entered_on, event_date, entry_reason FROM {MEMBERSHIP_TABLE}")
    assert members == [
        ("C00003", D0 + timedelta(days=1), D0, f"first completed order on {D0}"),
    ]


def test_backfill_never_thanks_an_old_first_purchase(tmp_path: Path):
    # a first run (or a backfill) sees a first purchase made 10 days ago for the first time
    wh = write_profiles(tmp_path / "w.duckdb", [_new_buyer("C00004", D0 - timedelta(days=10), D0)])
    summary = build_audiences(wh, _plan(), D0, D0 + timedelta(days=1))
    assert summary.entered["new_thank_you"] == 0
    assert summary.counts["new_thank_you"]["email"]["audience"] == 0
    assert _sent(wh, "new_thank_you") == []


def test_a_missed_day_is_caught_up_inside_the_entry_window(tmp_path: Path):
    # first purchase on D0; the run of D0 did not happen; the run of D0 + 1 (sends D0 + 2) thanks her
    wh = write_profiles(tmp_path / "w.duckdb", [_new_buyer("C00005", D0, D0 + timedelta(days=1))])
    build_audiences(wh, _plan(), D0 + timedelta(days=1), D0 + timedelta(days=2))
    assert _sent(wh, "new_thank_you") == [(D0 + timedelta(days=2), "C00005")]


def _lapsed_regular(cid: str, last: date, as_of: date) -> dict:
    return profile(
        cid,
        "Regular",
        as_of=as_of,
        last_order_at=_ts(last),
        days_since_last_order=(as_of - last).days,
        orders_lifetime=5,
    )


@pytest.mark.parametrize(("cooldown", "second_entry"), [(180, True), (500, False)])
def test_winback_reenters_only_after_its_cooldown(tmp_path: Path, cooldown: int, second_entry: bool):
    last1 = D0 - timedelta(days=366)  # days_since_last_order passes 365 on D0
    crossing1 = last1 + timedelta(days=366)
    last2 = crossing1 + timedelta(days=30)  # she comes back, buys, and lapses again
    crossing2 = last2 + timedelta(days=366)
    wh = write_profiles(tmp_path / "w.duckdb", [_lapsed_regular("C00006", last1, D0 - timedelta(days=1))])
    plan = _plan({"reentry: {after_days: 180}": f"reentry: {{after_days: {cooldown}}}"})
    for as_of, last in [
        (crossing1, last1),
        (crossing1 + timedelta(days=1), last1),  # the day after: no repeat
        (crossing1 + timedelta(days=2), last1),
        (crossing2, last2),
        (crossing2 + timedelta(days=1), last2),
    ]:
        append_profiles(wh, [_lapsed_regular("C00006", last, as_of)])
        build_audiences(wh, plan, as_of, as_of + timedelta(days=1))
    expected = [(crossing1 + timedelta(days=1), "C00006")]
    if second_entry:
        expected.append((crossing2 + timedelta(days=1), "C00006"))
    assert _sent(wh, "regular_winback") == expected


def test_winback_reaches_a_regular_whose_p_alive_falls_before_a_year(tmp_path: Path):
    # last order 200 days ago: a year has not passed, but BG/NBD says P(alive) fell below 0.5 five
    # days ago (p_alive_half_on): she enters the next day; a Regular still alive does not
    as_of = D0
    last = as_of - timedelta(days=200)
    slipping = _lapsed_regular("C00007", last, as_of) | {
        "p_alive": 0.45,
        "p_alive_half_on": as_of - timedelta(days=5),
    }
    alive = _lapsed_regular("C00008", last, as_of) | {
        "p_alive": 0.8,
        "p_alive_half_on": as_of + timedelta(days=60),
    }
    one_order = _lapsed_regular("C00009", last, as_of) | {"p_alive": 1.0, "p_alive_half_on": None}
    wh = write_profiles(tmp_path / "w.duckdb", [slipping, alive, one_order])
    build_audiences(wh, _plan(), as_of, as_of + timedelta(days=1))
    assert _sent(wh, "regular_winback") == [(as_of + timedelta(days=1), "C00007")]
    (reason,) = {r[0] for r in duckdb.connect(str(wh)).execute(
        "SELECT entry_reason FROM activations.campaign_memberships WHERE campaign_id = 'regular_winback'"
    ).fetchall()}  # fmt: skip
    assert (
        reason
        == f"p_alive crossed < 0.5 or days_since_last_order crossed > 365 on {as_of - timedelta(days=5)}"
    )


def _vip(cid: str, as_of: date) -> dict:
    return profile(cid, "VIP", as_of=as_of, orders_lifetime=12)


def _responses(wh: Path, rows: list[tuple[str, str, date]]) -> None:
    """RSVPs in the lake next to the warehouse (<folder>/lake/campaign_responses), landed the day they happen."""
    for i, (campaign, customer, day) in enumerate(rows):
        write_partition(
            wh.parent / "lake",
            "campaign_responses",
            day,
            [
                {
                    "response_id": f"r{i}",
                    "campaign_id": campaign,
                    "customer_id": customer,
                    "response": "rsvp",
                    "occurred_at": _ts(day),
                }
            ],  # fmt: skip
            file_no=i + 1,
        )


def test_broadcast_sends_once_and_reminds_only_non_responders(tmp_path: Path):
    plan = _plan()
    vip = plan.campaign("vip_party")
    wave = vip.send_on
    ids = [f"C{i:05d}" for i in range(1, 7)]
    wh = write_profiles(tmp_path / "w.duckdb", [_vip(c, wave - timedelta(days=10)) for c in ids])
    _responses(wh, [("vip_party", "C00002", wave + timedelta(days=2)), ("other", "C00003", wave)])
    first_as_of = wave - timedelta(days=2)
    _days(wh, plan, first_as_of, 12, lambda d: [_vip(c, d) for c in ids])
    assert _sent(wh, "vip_party", "direct_mail") == [(wave, c) for c in ids]
    reminder = wave + timedelta(days=7)
    assert _sent(wh, "vip_party", "phone") == [(wave, c) for c in ids] + [
        (reminder, c) for c in ids if c != "C00002"
    ]
    reasons = _rows(
        wh,
        "SELECT DISTINCT reason_included FROM activations.campaign_audience_snapshots "
        "WHERE campaign_id = 'vip_party' AND send_date = ?",
        [reminder],
    )
    assert reasons == [(f"follow-up 7 days after entry on {wave} (non_responders)",)]
    assert _rows(wh, f"SELECT count(*) FROM {MEMBERSHIP_TABLE} WHERE campaign_id = 'vip_party'") == [(6,)]


def test_end_date_stops_entries_and_follow_ups(tmp_path: Path):
    plan = _plan()
    wave = plan.campaign("vip_party").send_on
    # the campaign ends 3 days after the wave: the 7-day reminder is never sent
    ended = _plan(
        {
            "    start_date: 2024-01-01\n    end_date: 2030-12-31\n    holdout_share: 0.10\n\n  - id: regular_winback": (
                f"    start_date: 2024-01-01\n    end_date: {wave + timedelta(days=3)}\n    holdout_share: 0.10\n\n"
                "  - id: regular_winback"
            )
        }
    )
    ids = ["C00001", "C00002"]
    wh = write_profiles(tmp_path / "w.duckdb", [_vip(c, wave - timedelta(days=5)) for c in ids])
    _days(wh, ended, wave - timedelta(days=1), 9, lambda d: [_vip(c, d) for c in ids])
    assert _sent(wh, "vip_party", "phone") == [(wave, c) for c in ids]
    last = build_audiences(wh, ended, wave + timedelta(days=6), wave + timedelta(days=7))
    assert last.notes["vip_party"] == f"ended on {wave + timedelta(days=3)}"
    assert _rows(wh, f"SELECT DISTINCT exits_on, exit_reason FROM {MEMBERSHIP_TABLE}") == [
        (wave + timedelta(days=3), "campaign ends")
    ]
    # and a trigger campaign that ended takes nobody in
    wh2 = write_profiles(tmp_path / "w2.duckdb", [_new_buyer("C00009", D0, D0)])
    tail = "    kpi: {metric: open_rate, target: 0.30, window_days: 14}\n    start_date: 2024-01-01\n    end_date: 2030-12-31"
    over = _plan({tail: tail.replace("2030-12-31", str(D0))})
    s = build_audiences(wh2, over, D0, D0 + timedelta(days=1))
    assert s.notes["new_thank_you"] == f"ended on {D0}" and "new_thank_you" not in s.entered


def test_prospect_welcome_sms_follows_up_only_those_who_did_not_open(tmp_path: Path):
    reg = D0
    ids = ["C00011", "C00012", "C00013"]

    def rows(d: date) -> list[dict]:
        return [profile(c, "Prospect", as_of=d, registered_at=_ts(reg)) for c in ids]

    wh = write_profiles(tmp_path / "w.duckdb", rows(reg - timedelta(days=1)))
    opened = reg + timedelta(days=2)  # C00012 opens the welcome email the day after it arrives
    write_lake_entity(
        tmp_path / "lake",
        "email_events",
        opened.isoformat(),
        [
            {
                "event_id": "e1",
                "event": "open",
                "occurred_at": _ts(opened),
                "campaign_id": "prospect_welcome",
                "customer_id": "C00012",
                "email": "c12@example.co.th",
            }
        ],  # fmt: skip
    )
    _days(wh, _plan(), reg, 6, rows)
    entry = reg + timedelta(days=1)
    assert _sent(wh, "prospect_welcome", "email") == [(entry, c) for c in ids]
    assert _sent(wh, "prospect_welcome", "ads") == [(entry, c) for c in ids]
    assert _sent(wh, "prospect_welcome", "sms") == [
        (entry + timedelta(days=3), c) for c in ("C00011", "C00013")
    ]


def _scenario_rows(d: date) -> list[dict]:
    """A few people whose facts change over the days: first orders, a lapse, a registration."""
    out = [_lapsed_regular("C00021", D0 - timedelta(days=365), d)]  # crosses 365 on D0 + 1
    for k, cid in enumerate(("C00022", "C00023", "C00024")):
        first = D0 + timedelta(days=k)
        out.append(_new_buyer(cid, first, d) if d >= first else profile(cid, "Prospect", as_of=d))
    out.append(profile("C00025", "Prospect", as_of=d, registered_at=_ts(D0 + timedelta(days=1))))
    return out


def _state(wh: Path) -> tuple[list, list]:
    members = _rows(wh, f"SELECT * FROM {MEMBERSHIP_TABLE} ORDER BY ALL")
    sends = _rows(
        wh,
        "SELECT campaign_id, customer_id, channel, holdout, reason_included, send_date "
        "FROM activations.campaign_audience_snapshots ORDER BY ALL",
    )
    return members, sends


def test_rerun_crash_rerun_and_backfill_give_the_same_journeys_as_one_clean_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    plan = _plan()
    days = [D0 + timedelta(days=k) for k in range(6)]

    def fresh(name: str) -> Path:
        wh = write_profiles(tmp_path / f"{name}.duckdb", _scenario_rows(D0 - timedelta(days=1)))
        for d in days:
            append_profiles(wh, _scenario_rows(d))
        return wh

    def run(wh: Path, d: date) -> None:
        build_audiences(wh, plan, d, d + timedelta(days=1))

    clean = fresh("clean")
    for d in days:
        run(clean, d)
    expected = _state(clean)
    assert len(expected[0]) >= 5  # the scenario has entries on several days

    rerun = fresh("rerun")
    for d in days:
        run(rerun, d)
        run(rerun, d)  # every day run twice
    assert _state(rerun) == expected

    crash = fresh("crash")
    real_write = build_mod.write_memberships

    def write_then_die(con, entries, send_date):
        real_write(con, entries, send_date)
        raise KeyboardInterrupt("killed while writing the day's memberships")

    for d in days:
        if d in (days[1], days[3]):  # the run dies half-way through its write; the day runs again
            monkeypatch.setattr(build_mod, "write_memberships", write_then_die)
            with pytest.raises(KeyboardInterrupt):
                run(crash, d)
            monkeypatch.setattr(build_mod, "write_memberships", real_write)
        run(crash, d)
        if d == days[4]:  # and a completed day is run again after a crash of the next one
            run(crash, days[3])
    assert _state(crash) == expected

    backfill = fresh("backfill")
    for d in days[:3]:
        run(backfill, d)
    for d in days:  # a backfill over the whole range after days 1-3 had run
        run(backfill, d)
    assert _state(backfill) == expected


def _send_everything(wh: Path, send_date: date) -> None:
    """What delivery would record: a `sent` ledger row for every audience row of the day that is not held out."""
    con = duckdb.connect(str(wh))
    try:
        con.execute(LEDGER_DDL)
        con.execute(
            "INSERT INTO activations.send_ledger (campaign_id, customer_id, channel, send_date, send_id, batch_id,"
            " address, status, intent_at) SELECT campaign_id, customer_id, channel, send_date, 'sid', 'b', address,"
            " 'sent', TIMESTAMP '2026-01-01 02:00:00' FROM activations.campaign_audience_snapshots"
            " WHERE send_date = ? AND NOT holdout",
            [send_date],
        )
    finally:
        con.close()


def test_day_summary_counts_entries_sends_and_repeats(tmp_path: Path):
    last1 = D0 - timedelta(days=366)
    crossing1 = last1 + timedelta(days=366)
    last2 = crossing1 + timedelta(days=30)
    crossing2 = last2 + timedelta(days=366)
    plan = _plan(
        {"holdout_share: 0.10\n\n  - id: new_thank_you": "holdout_share: 0.0\n\n  - id: new_thank_you"}
    )
    wh = write_profiles(tmp_path / "w.duckdb", [_lapsed_regular("C00031", last1, D0 - timedelta(days=1))])
    days = {}
    for as_of, last in [(crossing1, last1), (crossing1 + timedelta(days=1), last1), (crossing2, last2)]:
        append_profiles(wh, [_lapsed_regular("C00031", last, as_of)])
        send = as_of + timedelta(days=1)
        build_audiences(wh, plan, as_of, send)
        _send_everything(wh, send)
        days[send] = {r["campaign_id"]: r for r in journey_day_summary(wh, plan, send)}
    first, next_day, again = (days[d]["regular_winback"] for d in sorted(days))
    assert (first["entered"], first["sent"], first["repeats"]) == (1, 1, 0)
    assert (next_day["entered"], next_day["sent"], next_day["repeats"]) == (0, 0, 0)
    assert (again["entered"], again["sent"], again["repeats"]) == (1, 1, 1)  # re-entry after the cooldown
    assert first["state"] == "active" and first["kind"] == "trigger"
    ended = _plan({"    end_date: 2030-12-31\n    holdout_share: 0.10\n\n  - id: new_thank_you": (
        f"    end_date: {D0}\n    holdout_share: 0.10\n\n  - id: new_thank_you"
    )})  # fmt: skip
    rows = {r["campaign_id"]: r for r in journey_day_summary(wh, ended, D0 + timedelta(days=1))}
    assert rows["regular_winback"]["state"] == "ended" and rows["vip_party"]["state"] == "active"


def test_day_summary_counts_the_people_on_handed_over_lists_as_sent(tmp_path: Path):
    """The VIP invitation goes out as a call list and letters (no provider, no ledger rows): the
    day's summary counts everyone on those lists who is not held out (nobody is suppressed yet:
    delivery writes the suppressions)."""
    plan = _plan()
    wave = plan.campaign("vip_party").send_on
    ids = [f"C{i:05d}" for i in range(1, 41)]
    wh = write_profiles(tmp_path / "w.duckdb", [_vip(c, wave - timedelta(days=1)) for c in ids])
    build_audiences(wh, plan, wave - timedelta(days=1), wave)
    _send_everything(wh, wave + timedelta(days=365))  # the ledger exists, with no row of this day
    on_lists = _rows(
        wh,
        "SELECT count(DISTINCT customer_id) FROM activations.campaign_audience_snapshots "
        "WHERE campaign_id = 'vip_party' AND send_date = ? AND NOT holdout",
        [wave],
    )[0][0]
    held_out = _rows(
        wh,
        "SELECT count(DISTINCT customer_id) FROM activations.campaign_audience_snapshots "
        "WHERE campaign_id = 'vip_party' AND send_date = ? AND holdout",
        [wave],
    )[0][0]
    assert on_lists + held_out == len(ids)  # every VIP is on the lists or held out
    assert 0 < held_out < on_lists
    row = {r["campaign_id"]: r for r in journey_day_summary(wh, plan, wave)}["vip_party"]
    assert (row["entered"], row["sent"], row["repeats"]) == (len(ids), on_lists, 0)
