"""Dead runs do not stop tomorrow: the CLI's own run monitoring (there is no daemon in `crmloop run`).

Every CLI run is tagged with the process that executes it (pid, host, process start time). Before
a new run starts, `recover_dead_runs` looks at every run Dagster still has in progress:

- a CLI run on this host whose process is gone (SIGKILL, OOM killer, a lost session) is marked
  failed (`instance.report_run_failed`) and the pool slots it held are freed
  (`free_concurrency_slots_for_run`), so the new run's warehouse step does not wait for ever;
- a finished run that still holds a slot (what the daemon's `free_slots_after_run_end_seconds`
  clears in a deployment) has it freed;
- a slot held by a run that is alive, or whose process cannot be checked from here (another
  host, or launched from the Dagster UI), refuses the new run with a sentence naming it: DuckDB
  takes one writer, and waiting behind it silently is what a person could not tell from a hang.

With a daemon (`dagster dev`, a deployment), dagster.yaml's `run_monitoring` does the same for
runs it launched: see the README there.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import psutil

PID_TAG = "crmloop/pid"
HOST_TAG = "crmloop/host"
STARTED_TAG = "crmloop/process_started"  # the process's start time: a reused pid is not the run


def process_tags() -> dict[str, str]:
    """Run tags naming the process that executes a run (read back by `recover_dead_runs`)."""
    me = psutil.Process()
    return {PID_TAG: str(me.pid), HOST_TAG: socket.gethostname(), STARTED_TAG: f"{me.create_time():.3f}"}


def process_alive(tags: dict[str, str]) -> bool | None:
    """True/False for a run executed by a process of this host; None when it cannot be told here."""
    if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
        return None
    try:
        proc = psutil.Process(int(tags[PID_TAG]))
        started = proc.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except (psutil.AccessDenied, ValueError):
        return None
    return abs(started - float(tags.get(STARTED_TAG, started))) < 1.0


@dataclass
class Recovered:
    run_id: str
    job: str
    partition: str | None
    freed: list[str]  # "pool: step" slots freed
    why: str  # what was wrong with the run and what was done

    def describe(self) -> str:
        freed = f", freed {', '.join(self.freed)}" if self.freed else ""
        return f"recovered run {self.run_id} ({self.job} {self.partition or '-'}): {self.why}{freed}"


class SlotHeld(Exception):
    """A pool slot is held by a run that may still be working; the message names it."""


def _held_slots(instance) -> dict[str, list[str]]:
    """run id -> "pool: step" for every claimed slot of every pool."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    held: dict[str, list[str]] = {}
    for key, info in storage.get_concurrency_infos(sorted(storage.get_concurrency_keys())).items():
        for slot in info.claimed_slots:
            held.setdefault(slot.run_id, []).append(f"{key}: {slot.step_key}")
    return held


def recover_dead_runs(instance) -> list[Recovered]:
    """Mark dead CLI runs failed and free their slots (and any finished run's); SlotHeld when a
    slot stays held by a run that is alive or cannot be checked from this host."""
    from dagster import DagsterRunStatus, RunsFilter
    from dagster._core.storage.dagster_run import FINISHED_STATUSES, IN_PROGRESS_RUN_STATUSES

    held = _held_slots(instance)
    recovered: list[Recovered] = []
    for run in instance.get_runs(filters=RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES)):
        if process_alive(run.tags) is not False:
            continue
        gone = f"its process {run.tags[PID_TAG]} on {run.tags[HOST_TAG]} is gone (killed or crashed mid-run)"
        instance.report_run_failed(
            run, message=f"{gone}; marked failed by the next crmloop run, which frees its pool slots"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        slots = held.pop(run.run_id, [])
        recovered.append(
            Recovered(
                run.run_id, run.job_name, run.tags.get("dagster/partition"), slots, f"{gone}; marked failed"
            )
        )
    for run_id in list(held):
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status not in FINISHED_STATUSES:
            continue
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        job, partition = (run.job_name, run.tags.get("dagster/partition")) if run else ("?", None)
        ended = f"it had ended ({run.status.value})" if run else "no such run"
        recovered.append(Recovered(run_id, job, partition, held.pop(run_id), f"{ended} but held slots"))
    if held:
        run_id, slots = next(iter(held.items()))
        run = instance.get_run_by_id(run_id)
        status = run.status.value if run else DagsterRunStatus.NOT_STARTED.value
        where = (
            f"process {run.tags[PID_TAG]} on {run.tags[HOST_TAG]}"
            if run is not None and PID_TAG in run.tags
            else "launched from the Dagster UI or a daemon"
        )
        raise SlotHeld(
            f"run {run_id} ({run.job_name if run else '?'}, {status}, {where}) holds {', '.join(slots)}; "
            "wait for it to finish; if it is dead, terminate it in the Dagster UI (Runs → Terminate, "
            "force) and run again: the slots of a finished run are freed"
        )
    return recovered
