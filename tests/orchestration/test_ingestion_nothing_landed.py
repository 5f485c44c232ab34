"""A Dagster run of a day with nothing landed fails its ingestion step with the reason (the
schedule and the UI meet the same rule as `crmloop run`)."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from orchestration.defs.ingestion import build_ingestion_asset
from orchestration.defs.resources import CrmSettings
from sources import load_declarations

DAY = date(2026, 11, 20)


def _materialize(tmp_path, monkeypatch, landing):
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRM_LANDING_DIR", str(landing))
    monkeypatch.setenv("CRM_START_DATE", "2024-01-01")
    asset = build_ingestion_asset(load_declarations()["customers"])
    return dg.materialize(
        [asset], partition_key=DAY.isoformat(), resources={"crm": CrmSettings()}, raise_on_error=False
    )


def _failure(result) -> str:
    assert not result.success
    [event] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    return event.step_failure_data.error.message


def test_missing_landing_zone_fails_the_ingestion_step(tmp_path, monkeypatch):
    result = _materialize(tmp_path, monkeypatch, tmp_path / "nowhere")
    assert f"landing zone {tmp_path / 'nowhere'} does not exist" in _failure(result)
    assert not (tmp_path / "home" / "lake").exists()


def test_a_day_no_source_delivered_fails_the_ingestion_step(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    (landing / "customers" / "2026-11-19").mkdir(parents=True)
    (landing / "customers" / "2026-11-19" / "c.csv").write_text("customer_id\nC1\n", encoding="utf-8")
    (landing / "orders" / DAY.isoformat()).mkdir(parents=True)  # an empty folder delivers nothing
    result = _materialize(tmp_path, monkeypatch, landing)
    assert f"nothing landed for {DAY}: no declared source has files in {landing}/<source>/{DAY}/" in (
        _failure(result)
    )


@pytest.mark.parametrize("source_with_files", ["customers", "orders"])
def test_a_day_some_source_delivered_ingests(tmp_path, monkeypatch, source_with_files):
    landing = tmp_path / "landing"
    part = landing / source_with_files / DAY.isoformat()
    part.mkdir(parents=True)
    (part / "x.csv").write_text("customer_id,email\nC1,a@example.com\n", encoding="utf-8")
    assert _materialize(tmp_path, monkeypatch, landing).success
