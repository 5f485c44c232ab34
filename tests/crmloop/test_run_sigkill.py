"""A `crmloop run` killed with SIGKILL while it holds the warehouse writer's pool slot does not stop
the next run: the next run sees the dead run's process is gone, marks that run failed, frees its
slot, and finishes (before, it waited for the slot for ever)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import AS_OF, CUSTOMERS, SEED  # the demo data whose daily run is clean

REPO = Path(__file__).resolve().parents[2]
POOL = "duckdb_writer"
RERUN_TIMEOUT = 1200  # generous for a shared 2-core machine; today's code waits for ever


def _cli(root: Path, log: Path) -> subprocess.Popen:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CRM_", "DAGSTER_", "SENDGRID", "TWILIO", "META_"))
    }
    env.update(PYTHONPATH=str(REPO), CRM_START_DATE="2024-01-01", CRM_ACTIVATION_MODE="sandbox")
    cmd = [sys.executable, "-m", "crmloop.cli", "run", "--landing", str(root / "landing"),
           "--home", str(root / "home"), "--as-of", AS_OF.isoformat()]  # fmt: skip
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _instance(root: Path):
    from dagster import DagsterInstance

    os.environ["DAGSTER_HOME"] = str(root / "home" / "dagster")
    return DagsterInstance.get()


def _daily_slot_holder(root: Path) -> tuple[str, str] | None:
    """(run id, step) of a daily_run step holding the warehouse writer's slot, if any yet."""
    if not (root / "home" / "dagster" / "dagster.yaml").exists():
        return None
    with _instance(root) as instance:
        storage = instance.event_log_storage
        if POOL not in storage.get_concurrency_keys():
            return None
        for slot in storage.get_concurrency_info(POOL).claimed_slots:
            run = instance.get_run_by_id(slot.run_id)
            if run is not None and run.job_name == "daily_run":
                return slot.run_id, slot.step_key
    return None


@pytest.mark.slow
def test_sigkill_while_holding_the_pool_slot_then_rerun_finishes(tmp_path, monkeypatch):
    from dagster import DagsterRunStatus

    from crmloop.demo_data.generate import generate

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    generate(
        customers=CUSTOMERS, seed=SEED, out=tmp_path / "landing", as_of=AS_OF, truth_dir=tmp_path / "truth"
    )

    first = _cli(tmp_path, tmp_path / "first.log")
    holder = None
    while holder is None:
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        time.sleep(1.0)
        holder = _daily_slot_holder(tmp_path)
    os.killpg(first.pid, signal.SIGKILL)  # the CLI and any dbt it started, as a lost machine does
    first.wait(timeout=60)
    dead_run, step = holder
    with _instance(tmp_path) as instance:
        assert instance.get_run_by_id(dead_run).status == DagsterRunStatus.STARTED
        assert [s.run_id for s in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots] == [
            dead_run
        ]

    second = _cli(tmp_path, tmp_path / "second.log")
    try:
        rc = second.wait(timeout=RERUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait()
        with _instance(tmp_path) as instance:
            info = instance.event_log_storage.get_concurrency_info(POOL)
        pytest.fail(
            f"the rerun did not finish in {RERUN_TIMEOUT}s; {POOL} held by {info.claimed_slots}, "
            f"waiting: {info.pending_steps}"
        )
    out = (tmp_path / "second.log").read_text()
    assert rc == 0, out[-5000:]
    assert f"recovered run {dead_run} (daily_run {AS_OF}): its process" in out
    assert f"freed {POOL}: {step}" in out
    assert f"daily_run {AS_OF}: succeeded" in out
    with _instance(tmp_path) as instance:
        dead = instance.get_run_by_id(dead_run)
        assert dead.status == DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots == []
