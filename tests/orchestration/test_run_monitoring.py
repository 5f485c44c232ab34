"""dagster.yaml's run monitoring, as the daemon applies it: a dead run's slots are freed once the
run has ended (marked failed by the CLI, by max_runtime_seconds, or force-terminated)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from types import SimpleNamespace

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.test_utils import freeze_time
from dagster._daemon.monitoring.concurrency import execute_concurrency_slots_iteration
from dagster._time import get_current_datetime

from crmloop.runner import prepare_dagster_home
from crmloop.settings import Settings
from orchestration.defs.warehouse import WAREHOUSE_POOL


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRM_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))
    prepare_dagster_home(Settings.from_env())  # the repo's dagster.yaml under <home>/dagster
    with dg.DagsterInstance.get() as inst:
        yield inst


def test_run_monitoring_is_on_with_the_documented_limits(instance):
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_max_runtime_seconds == 6 * 3600
    assert instance.run_monitoring_start_timeout_seconds == 180
    assert instance.run_monitoring_max_resume_run_attempts == 0  # the default launcher cannot resume
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 300


def test_the_daemon_frees_the_slot_of_a_run_marked_failed(instance):
    run_id = str(uuid.uuid4())
    run = DagsterRun(job_name="daily_run", run_id=run_id, status=dg.DagsterRunStatus.STARTED)
    instance.add_run(run)
    storage = instance.event_log_storage
    storage.set_concurrency_slots(WAREHOUSE_POOL, 1)
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, run_id, "warehouse").is_claimed
    instance.report_run_failed(run, "its worker died")
    daemon = SimpleNamespace(instance=instance)  # the iteration reads only the instance
    logger = logging.getLogger("test_run_monitoring")

    list(execute_concurrency_slots_iteration(daemon, logger))
    assert [s.run_id for s in storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots] == [run_id]
    with freeze_time(get_current_datetime() + timedelta(seconds=301)):
        list(execute_concurrency_slots_iteration(daemon, logger))
    assert storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots == []
