"""The deployment: Dagster's instance on a real PostgreSQL server (tests/fakes/postgres.py) with
`dagster-daemon run` as a subprocess running the project's real schedule, sensor and run queue
over demo data of 400 people (docs/DEPLOY.md).

The tests share one crmloop home and database and run in file order: the sensor's run builds the
bulk day D-1, the schedule's run the next day D on top of it. Each daemon is started for one test
and stopped after it; every failure message carries the daemon's log and the run's failed steps.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import InstigatorStatus, ScheduleInstigatorData

from crmloop.runner import land_extracts, prepare_dagster_home
from crmloop.settings import TIMEZONE, Settings
from orchestration.defs.automation import DAILY_JOB, INGEST_JOB

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CODE = ["-m", "orchestration.definitions"]
SCHEDULE = "daily_0200_bangkok"
SENSOR = "new_landing_partition"
# seconds for a run, daemon start included: a daily run of 400 people takes 2.5 to 3 minutes under the
# daemon (the multiprocess executor starts a process per step, each loading the code location)
RUN_TIMEOUT = 300.0


def last_schedule_tick(now: datetime) -> datetime:
    """The latest 02:00 Asia/Bangkok at or before `now` (the schedule's cron, in its time zone)."""
    local = now.astimezone(ZoneInfo(TIMEZONE))
    tick = local.replace(hour=2, minute=0, second=0, microsecond=0)
    return tick if tick <= local else tick - timedelta(days=1)


@pytest.fixture(scope="module")
def deployment(postgres_server, tmp_path_factory):
    """A crmloop home whose dagster.yaml keeps the instance in a fresh PostgreSQL database, and the
    demo's extracts of the day before the schedule's last tick (D-1, the bulk) and of D."""
    from crmloop.demo_data.generate import generate

    root = tmp_path_factory.mktemp("pgdeploy")
    tick = last_schedule_tick(datetime.now(ZoneInfo(TIMEZONE)))
    day = tick.date() - timedelta(days=1)  # partition D runs at 02:00 on D + 1
    env = {
        "CRM_HOME": str(root / "home"),
        "CRM_LANDING_DIR": str(root / "landing"),
        "CRM_DAGSTER_STORAGE": "postgres",
        **postgres_server.env(postgres_server.create_database("dagster_deploy")),
    }
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    for k in ("CRM_AS_OF", "CRM_START_DATE", "CRM_PLAN"):
        mp.delenv(k, raising=False)
    generate(customers=400, seed=7, out=root / "extracts", as_of=day, days=1)
    (root / "landing").mkdir()
    land_extracts(root / "extracts", root / "landing", day - timedelta(days=1))
    dagster_home = prepare_dagster_home(Settings.from_env())  # sets DAGSTER_HOME (restored by mp.undo)
    mp.setenv("DAGSTER_HOME", str(dagster_home))
    env["DAGSTER_HOME"] = str(dagster_home)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        yield {"root": root, "env": env, "instance": instance, "tick": tick, "day": day}
    mp.undo()


def dagster_cli(d, *args: str) -> str:
    proc = subprocess.run(
        [str(BIN / "dagster"), *args, *CODE],
        cwd=REPO,
        env=dict(os.environ, **d["env"]),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, f"dagster {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@contextmanager
def daemon(d, name: str):
    """`dagster-daemon run` on the project's code location; yields a function giving its log."""
    log_path = d["root"] / f"daemon-{name}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", *CODE],
            cwd=REPO,
            env=dict(os.environ, **d["env"]),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def tail(lines: int = 60) -> str:
            text = log_path.read_text(errors="replace").splitlines()
            status = "running" if proc.poll() is None else f"exited {proc.returncode}"
            return f"--- dagster-daemon ({status}), last lines of {log_path} ---\n" + "\n".join(text[-lines:])

        try:
            yield tail
        finally:
            stop_process_group(proc)


def stop_process_group(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM the daemon's process group (the daemon, its code server, run workers), then SIGKILL
    what is still alive of them after `grace` seconds (a code server can outlive its daemon)."""
    import psutil

    try:
        procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, psutil.NoSuchProcess):  # the daemon died: its group goes too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return

    def alive() -> list:
        out = []
        for p in procs:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
            except psutil.NoSuchProcess:
                pass
        return out

    deadline = time.monotonic() + grace
    while (left := alive()) and time.monotonic() < deadline:
        proc.poll()  # reap the daemon
        time.sleep(0.5)
    for p in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    proc.wait()


def failed_steps(instance, run_id: str) -> str:
    out = []
    for rec in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        err = rec.dagster_event.event_specific_data.error
        out.append(f"{rec.step_key}: {err.message.strip() if err else ''}"[:800])
    for rec in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
        out.append(f"run failure: {rec.dagster_event.message}"[:800])
    return "\n".join(out) or "(no step failed)"


def wait_for_runs(instance, tail, count: int, timeout: float, **filters) -> list:
    """The `count` runs matching `filters` once all have finished (a timeout fails with the log)."""
    deadline = time.monotonic() + timeout
    done = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    while True:
        runs = instance.get_runs(filters=dg.RunsFilter(**filters))
        if len(runs) >= count and all(r.status in done for r in runs):
            return runs
        if time.monotonic() > deadline:
            seen = [(r.run_id[:8], r.job_name, r.tags.get("dagster/partition"), r.status.value) for r in runs]
            pytest.fail(
                f"expected {count} finished run(s) for {filters} in {timeout:.0f}s, saw {seen}\n{tail()}"
            )
        time.sleep(2)


def assert_succeeded(instance, tail, run) -> None:
    assert run.status == dg.DagsterRunStatus.SUCCESS, (
        f"run {run.run_id} ({run.job_name} {run.tags.get('dagster/partition')}) {run.status.value}:\n"
        f"{failed_steps(instance, run.run_id)}\n{tail()}"
    )


def instigator(instance, name: str):
    states = [s for s in instance.all_instigator_state() if s.name == name]
    assert len(states) == 1, f"one instigator state named {name} expected, found {states}"
    return states[0]


def test_instance_storage_is_postgresql_and_no_password_is_in_a_file(deployment, postgres_server):
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    instance = deployment["instance"]
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)  # the pools' slots too
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    tables = postgres_server.tables(deployment["env"]["DAGSTER_PG_DB"])
    assert {"runs", "event_logs", "jobs", "job_ticks", "concurrency_limits", "concurrency_slots"} <= tables
    # the one DuckDB writer and the run queue are the same limits as on SQLite
    # (read as the run queue daemon reads them)
    concurrency = instance.get_concurrency_config()
    assert concurrency.pool_config.default_pool_limit == 1
    assert concurrency.run_queue_config.max_concurrent_runs == 1
    home = Path(deployment["env"]["DAGSTER_HOME"])
    for f in home.rglob("*"):
        if f.is_file():
            assert postgres_server.password.encode() not in f.read_bytes(), f"the password is in {f}"
    assert not (home / "storage").exists(), "SQLite storage was created beside PostgreSQL"


def test_the_landing_sensor_starts_a_daily_run_that_succeeds(deployment):
    instance, day = deployment["instance"], deployment["day"]
    dagster_cli(deployment, "sensor", "start", SENSOR)
    with daemon(deployment, "sensor") as tail:
        (run,) = wait_for_runs(instance, tail, 1, RUN_TIMEOUT, tags={"dagster/sensor_name": SENSOR})
        # stop the sensor: the schedule's day must not also start a sensor run later
        instance.update_instigator_state(instigator(instance, SENSOR).with_status(InstigatorStatus.STOPPED))
    assert run.job_name == DAILY_JOB
    assert run.tags["dagster/partition"] == (day - timedelta(days=1)).isoformat()
    assert_succeeded(instance, tail, run)


def test_the_0200_schedule_ticks_and_its_daily_run_succeeds(deployment):
    instance, day, tick = deployment["instance"], deployment["day"], deployment["tick"]
    root = deployment["root"]
    assert any((root / "home" / "lake").glob("*/load_date=*")), "the sensor's run (day D-1) did not build"
    land_extracts(root / "extracts", root / "landing", day)
    dagster_cli(deployment, "schedule", "start", SCHEDULE)
    # started a minute before its last 02:00 tick (as if the daemon had been running since):
    # the daemon's scheduler owes exactly that tick
    state = instigator(instance, SCHEDULE)
    data = state.instigator_data
    instance.update_instigator_state(
        state.with_data(ScheduleInstigatorData(data.cron_schedule, start_timestamp=tick.timestamp() - 60))
    )
    with daemon(deployment, "schedule") as tail:
        (run,) = wait_for_runs(instance, tail, 1, RUN_TIMEOUT, tags={"dagster/schedule_name": SCHEDULE})
        instance.update_instigator_state(instigator(instance, SCHEDULE).with_status(InstigatorStatus.STOPPED))
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
    assert [(t.status.value, t.timestamp, t.run_ids) for t in ticks] == [
        ("SUCCESS", tick.timestamp(), [run.run_id])
    ]
    assert run.job_name == DAILY_JOB
    assert run.tags["dagster/partition"] == day.isoformat()
    assert_succeeded(instance, tail, run)


def test_two_runs_queued_at_once_run_one_after_the_other(deployment):
    """max_concurrent_runs: 1 (dagster.yaml) on PostgreSQL: both ingest runs write the lake, and
    the queue starts the second only once the first has ended."""
    instance, day = deployment["instance"], deployment["day"]
    days = [(day - timedelta(days=1)).isoformat(), day.isoformat()]
    land_extracts(deployment["root"] / "extracts", deployment["root"] / "landing", day)  # (if not yet)
    for partition in days:
        tags = json.dumps({"dagster/partition": partition, "crmloop/test": "queue"})
        dagster_cli(deployment, "job", "launch", "-j", INGEST_JOB, "--tags", tags)
    queued = instance.get_runs(filters=dg.RunsFilter(tags={"crmloop/test": "queue"}))
    assert [r.status for r in queued] == [dg.DagsterRunStatus.QUEUED] * 2
    with daemon(deployment, "queue") as tail:
        runs = wait_for_runs(instance, tail, 2, RUN_TIMEOUT, tags={"crmloop/test": "queue"})
    for run in runs:
        assert_succeeded(instance, tail, run)
    records = instance.get_run_records(filters=dg.RunsFilter(run_ids=[r.run_id for r in runs]))
    first, second = sorted(records, key=lambda r: r.start_time)
    assert first.end_time <= second.start_time, (
        f"runs overlapped: {first.dagster_run.run_id} {first.start_time}..{first.end_time}, "
        f"{second.dagster_run.run_id} {second.start_time}..{second.end_time}"
    )
