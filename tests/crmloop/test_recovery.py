"""The CLI's own run monitoring on a real Dagster instance: a run whose process is gone is marked
failed and its pool slots freed; a slot held by a live or unknown run refuses with its name."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid

import dagster as dg
import psutil
import pytest
from dagster._core.storage.dagster_run import DagsterRun

from crmloop.recovery import HOST_TAG, PID_TAG, STARTED_TAG, SlotHeld, process_tags, recover_dead_runs
from orchestration.defs.warehouse import WAREHOUSE_POOL

PARTITION = "2026-11-19"


@pytest.fixture
def instance(tmp_path):
    with dg.DagsterInstance.local_temp(str(tmp_path)) as inst:
        inst.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, 1)
        yield inst


@pytest.fixture(scope="module")
def dead_tags() -> dict[str, str]:
    """The tags a CLI run got from a process that has since been killed."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = psutil.Process(proc.pid).create_time()
    proc.kill()
    proc.wait()
    return {PID_TAG: str(proc.pid), HOST_TAG: socket.gethostname(), STARTED_TAG: f"{started:.3f}"}


def add_run(instance, tags: dict, status=dg.DagsterRunStatus.STARTED, hold: str | None = "warehouse") -> str:
    run_id = str(uuid.uuid4())
    tags = {"dagster/partition": PARTITION, **tags}
    instance.add_run(DagsterRun(job_name="daily_run", run_id=run_id, status=status, tags=tags))
    if hold:
        assert instance.event_log_storage.claim_concurrency_slot(WAREHOUSE_POOL, run_id, hold).is_claimed
    return run_id


def held(instance) -> list[str]:
    return [s.run_id for s in instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots]


def test_a_run_whose_process_is_gone_is_marked_failed_and_its_slot_freed(instance, dead_tags):
    run_id = add_run(instance, dead_tags)
    [recovered] = recover_dead_runs(instance)
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    assert held(instance) == []
    assert recovered.describe() == (
        f"recovered run {run_id} (daily_run {PARTITION}): its process {dead_tags[PID_TAG]} on "
        f"{dead_tags[HOST_TAG]} is gone (killed or crashed mid-run); marked failed, freed {WAREHOUSE_POOL}: warehouse"
    )
    failure = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert "is gone (killed or crashed mid-run)" in failure[0].dagster_event.message
    assert recover_dead_runs(instance) == []  # nothing left to do


def test_a_dead_run_without_a_slot_is_marked_failed_too(instance, dead_tags):
    run_id = add_run(instance, dead_tags, hold=None)
    [recovered] = recover_dead_runs(instance)
    assert recovered.freed == []
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE


def test_a_reused_pid_is_not_the_run(instance):
    tags = {**process_tags(), STARTED_TAG: f"{psutil.Process().create_time() - 3600:.3f}"}
    run_id = add_run(instance, tags)
    recover_dead_runs(instance)
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    assert held(instance) == []


def test_a_finished_run_still_holding_a_slot_has_it_freed(instance):
    run_id = add_run(instance, {}, status=dg.DagsterRunStatus.CANCELED)
    [recovered] = recover_dead_runs(instance)
    assert held(instance) == []
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.CANCELED
    assert recovered.why == "it had ended (CANCELED) but held slots"


def test_a_live_run_holding_the_slot_refuses_naming_it(instance):
    run_id = add_run(instance, process_tags())
    with pytest.raises(SlotHeld) as err:
        recover_dead_runs(instance)
    me = process_tags()
    assert str(err.value).startswith(
        f"run {run_id} (daily_run, STARTED, process {me[PID_TAG]} on {me[HOST_TAG]}) holds "
        f"{WAREHOUSE_POOL}: warehouse; wait for it to finish"
    )
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
    assert held(instance) == [run_id]


@pytest.mark.parametrize(
    ("tags", "where"),
    [
        ({}, "launched from the Dagster UI or a daemon"),
        ({PID_TAG: "12345", HOST_TAG: "elsewhere", STARTED_TAG: "1.0"}, "process 12345 on elsewhere"),
    ],
)
def test_a_run_that_cannot_be_checked_from_here_is_left_alone(instance, tags, where):
    run_id = add_run(instance, tags)
    with pytest.raises(SlotHeld, match=f"STARTED, {where}\\) holds {WAREHOUSE_POOL}: warehouse"):
        recover_dead_runs(instance)
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
    assert held(instance) == [run_id]
