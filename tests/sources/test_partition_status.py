"""The partition status store (sources/partition_status.py): blocked, cleared, released, re-blocked."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from sources import partition_status as ps

D1, D2 = date(2026, 11, 19), date(2026, 11, 20)


def deliver(landing: Path, source: str, day: date, text: str, name: str = "f.csv") -> None:
    p = landing / source / day.isoformat() / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")


def check(lake: Path, landing: Path, passed: bool, source="pos_orders", day=D1, failures=None):
    return ps.record_check(
        lake,
        source,
        "orders",
        day,
        passed=passed,
        failures=failures if failures is not None else ([] if passed else ["key.unique_per_file: 12 rows"]),
        landing_fingerprint=ps.landing_fingerprint(landing, source, day),
    )


def test_clean_partition_records_nothing(tmp_path):
    lake, landing = tmp_path / "lake", tmp_path / "landing"
    deliver(landing, "pos_orders", D1, "a\n1\n")
    assert check(lake, landing, passed=True) is None
    assert ps.all_statuses(lake) == [] and ps.held_back(lake) == []
    assert not (lake / ps.STATUS_DIR).exists()


def test_failed_check_blocks_durably_and_lists_the_partition_for_dbt(tmp_path):
    lake, landing = tmp_path / "lake", tmp_path / "landing"
    deliver(landing, "pos_orders", D1, "a\n1\n1\n")
    st = check(lake, landing, passed=False)
    assert st.state == ps.BLOCKED and "key.unique_per_file" in st.reason
    # a fresh read (another process, the next day) sees the same verdict
    (again,) = ps.held_back(lake)
    assert (again.source, again.entity, again.load_date, again.state) == (
        "pos_orders",
        "orders",
        D1,
        "blocked",
    )
    assert ps.held_back(lake, up_to=date(2026, 11, 18)) == []
    assert ps.blocked_env_value(ps.held_back(lake)) == "orders:pos_orders@2026-11-19"
    assert again.release_command() == 'crmloop release pos_orders 2026-11-19 --reason "..."'


def test_redelivered_files_that_pass_clear_the_block(tmp_path):
    lake, landing = tmp_path / "lake", tmp_path / "landing"
    deliver(landing, "pos_orders", D1, "a\n1\n1\n")
    check(lake, landing, passed=False)
    assert ps.redelivered(lake, landing, ["pos_orders"]) == []
    deliver(landing, "pos_orders", D1, "a\n1\n2\n3\n")  # the corrected file
    assert [s.key for s in ps.redelivered(lake, landing, ["pos_orders"])] == ["pos_orders@2026-11-19"]
    st = check(lake, landing, passed=True)
    assert st.state == ps.ADMITTED
    assert ps.held_back(lake) == [] and ps.blocked_env_value(ps.held_back(lake)) == ""
    assert [h["state"] for h in st.history] == ["blocked", "admitted"]


def test_release_records_who_when_why_and_survives_a_recheck_of_the_same_files(tmp_path):
    lake, landing = tmp_path / "lake", tmp_path / "landing"
    deliver(landing, "pos_orders", D1, "a\n1\n1\n")
    check(lake, landing, passed=False)
    st = ps.release(
        lake, "pos_orders", D1, reason="duplicates are re-sent rows, harmless", by="anna", now="T1"
    )
    assert (st.state, st.released_by, st.released_at, st.release_reason) == (
        "released", "anna", "T1", "duplicates are re-sent rows, harmless",
    )  # fmt: skip
    on_disk = json.loads(ps.status_path(lake, "pos_orders", D1).read_text(encoding="utf-8"))
    assert on_disk["state"] == "released" and on_disk["released_by"] == "anna"
    assert ps.held_back(lake) == []
    # the same files checked again (a rerun of that day): still failing, the release stands
    assert check(lake, landing, passed=False).state == ps.RELEASED
    # different files delivered for that date that fail: blocked again, the old release no longer applies
    deliver(landing, "pos_orders", D1, "a\n9\n9\n9\n")
    st = check(lake, landing, passed=False)
    assert st.state == ps.BLOCKED and st.released_by is None
    assert [s.key for s in ps.held_back(lake)] == ["pos_orders@2026-11-19"]


def test_release_refuses_without_reason_or_when_not_blocked(tmp_path):
    lake, landing = tmp_path / "lake", tmp_path / "landing"
    deliver(landing, "pos_orders", D1, "a\n1\n1\n")
    with pytest.raises(ps.StatusError, match="never blocked"):
        ps.release(lake, "pos_orders", D2, reason="x", by="anna")
    check(lake, landing, passed=False)
    with pytest.raises(ps.StatusError, match="needs a reason"):
        ps.release(lake, "pos_orders", D1, reason="  ", by="anna")
    ps.release(lake, "pos_orders", D1, reason="ok", by="anna")
    with pytest.raises(ps.StatusError, match="not blocked \\(released\\)"):
        ps.release(lake, "pos_orders", D1, reason="again", by="anna")
    with pytest.raises(ps.StatusError, match="not a valid name"):
        ps.release(lake, "../etc", D1, reason="x", by="anna")


def test_admission_changed_against_the_last_successful_build(tmp_path):
    lake = tmp_path / "lake"
    assert ps.admission_changed(lake, "") is False  # nothing ever blocked, nothing built
    assert ps.admission_changed(lake, "orders:pos_orders@2026-11-19") is True
    ps.record_warehouse_build(lake, "orders:pos_orders@2026-11-19", D2)
    assert ps.admission_changed(lake, "orders:pos_orders@2026-11-19") is False
    assert ps.admission_changed(lake, "") is True  # released or cleared: its rows must come in
