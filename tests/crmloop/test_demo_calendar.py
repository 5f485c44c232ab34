"""`crmloop demo`'s calendar: three consecutive days, then the judged day (its as-of date) on which
the KPI windows of the last day's sends have closed; the broadcasts of the plan moved onto the
demo's first send date; each day's extracts landing on the morning of its run; a fresh start."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from activations.plan.spec import DEFAULT_PLAN_PATH, load_plan
from crmloop.runner import demo_days, fresh_demo_dirs, land_extracts, write_demo_plan
from crmloop.settings import Settings


def test_the_judged_day_is_the_first_on_which_the_last_sends_windows_have_closed(tmp_path):
    # the default plan's longest KPI window is 30 days: the sends of a run as of 2026-11-01 go out
    # on 2026-11-02, and a 30-day window opened then closes on 2026-12-01
    assert demo_days(date(2026, 12, 1), DEFAULT_PLAN_PATH) == [
        date(2026, 10, 30),
        date(2026, 10, 31),
        date(2026, 11, 1),
        date(2026, 12, 1),
    ]
    plan = yaml.safe_load(DEFAULT_PLAN_PATH.read_text(encoding="utf-8"))
    for c in plan["campaigns"]:
        c["kpi"]["window_days"] = 14
    short = tmp_path / "plan.yml"
    short.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    assert demo_days(date(2026, 12, 1), short, days=2) == [
        date(2026, 11, 16),
        date(2026, 11, 17),
        date(2026, 12, 1),
    ]


def test_the_demo_plan_moves_each_broadcast_and_its_dates_onto_the_first_send_date(tmp_path):
    dst = tmp_path / "demo_plan.yml"
    assert write_demo_plan(DEFAULT_PLAN_PATH, dst, date(2026, 10, 31)) == 1
    default, demo = load_plan(DEFAULT_PLAN_PATH), load_plan(dst)  # the copy is a valid plan
    vip = {c.id: c for c in default.campaigns}["vip_party"]
    moved = {c.id: c for c in demo.campaigns}["vip_party"]
    assert (vip.send_on, moved.send_on) == (date(2026, 12, 1), date(2026, 10, 31))
    # the party and the RSVP deadline keep their distance from the invitation (31 days earlier)
    assert (vip.variables["event_date"], moved.variables["event_date"]) == ("2026-12-19", "2026-11-18")
    assert (vip.variables["rsvp_by"], moved.variables["rsvp_by"]) == ("2026-12-12", "2026-11-11")
    assert moved.variables["place"] == vip.variables["place"]
    # nothing else changes
    others = [c.model_dump() for c in default.campaigns if c.id != "vip_party"]
    assert [c.model_dump() for c in demo.campaigns if c.id != "vip_party"] == others


def test_each_days_extracts_land_on_the_morning_of_its_run(tmp_path):
    extracts, landing = tmp_path / "x", tmp_path / "landing"
    for source in ("orders", "customers"):
        for day in ("2026-10-29", "2026-10-30", "2026-10-31"):
            (extracts / source / day).mkdir(parents=True)
            (extracts / source / day / "f.csv").write_text(day, encoding="utf-8")
    got = land_extracts(extracts, landing, date(2026, 10, 30))
    assert sorted(p.relative_to(landing).as_posix() for p in got) == [
        "customers/2026-10-29", "customers/2026-10-30", "orders/2026-10-29", "orders/2026-10-30",
    ]  # fmt: skip
    assert (landing / "orders/2026-10-30/f.csv").read_text(encoding="utf-8") == "2026-10-30"
    assert sorted(p.name for p in (extracts / "orders").iterdir()) == ["2026-10-31"]
    assert not (landing / "orders/2026-10-31").exists()


def test_the_demo_starts_afresh_but_never_over_someone_elses_data(tmp_path, monkeypatch):
    landing, home = tmp_path / "landing", tmp_path / "home"
    monkeypatch.setenv("CRM_LANDING_DIR", str(landing))
    monkeypatch.setenv("CRM_HOME", str(home))
    (landing / "orders" / "2026-10-01").mkdir(parents=True)
    (landing / "orders" / "2026-10-01" / "real.csv").write_text("order_id\n1\n", encoding="utf-8")
    settings = Settings.from_env()
    with pytest.raises(FileExistsError, match="not empty and is not a previous demo's"):
        fresh_demo_dirs(settings)
    assert (landing / "orders" / "2026-10-01" / "real.csv").exists()
    (landing / "orders" / "2026-10-01" / "real.csv").unlink()
    fresh_demo_dirs(settings)  # folders with no file in them are fine
    (landing / "orders" / "2026-10-02").mkdir(parents=True)
    (home / "warehouse.duckdb").write_bytes(b"x")
    fresh_demo_dirs(settings)  # a previous demo's folders are removed
    assert not landing.exists()
    assert [p.name for p in home.iterdir()] == [".crmloop-demo"]
