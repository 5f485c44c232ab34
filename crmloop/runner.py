"""`crmloop run` and `crmloop demo`: daily runs in-process through Dagster, with progress.

Runs are recorded in the Dagster instance under <home>/dagster, so `make dev` shows them.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from crmloop.settings import REPO_ROOT, Settings

console = Console(stderr=True)


def prepare_dagster_home(settings: Settings | None = None) -> Path:
    """Copy the repo's dagster.yaml to <home>/dagster (Dagster reads it only from $DAGSTER_HOME)."""
    import os

    settings = settings or Settings.from_env()
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    src = REPO_ROOT / "dagster.yaml"
    dst = home / "dagster.yaml"
    if not dst.exists() or dst.read_bytes() != src.read_bytes():
        shutil.copyfile(src, dst)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@dataclass
class RunOutcome:
    partition: str
    job: str
    success: bool
    run_id: str
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    log: Path | None = None


def _watch(instance, run_id: str, total: int, progress: Progress, task, stop: threading.Event) -> None:
    from dagster import DagsterEventType

    seen = 0
    done = 0
    while not stop.is_set():
        try:
            records = instance.all_logs(run_id)
        except Exception:  # storage may not have the run yet
            records = []
        for rec in records[seen:]:
            ev = rec.dagster_event
            if ev is None:
                continue
            if ev.event_type in (
                DagsterEventType.STEP_SUCCESS,
                DagsterEventType.STEP_FAILURE,
                DagsterEventType.STEP_SKIPPED,
            ):
                done += 1
                progress.update(task, completed=min(done, total), description=f"{ev.step_key[:48]}")
            elif ev.event_type == DagsterEventType.STEP_START:
                progress.update(task, description=f"{ev.step_key[:48]}")
        seen = len(records)
        stop.wait(0.5)


def execute_partition(
    defs, job_name: str, partition: str, instance, log_level: str = "WARNING"
) -> RunOutcome:
    """Execute one job for one partition in-process, with a progress bar; never raises on step failure."""
    from dagster import DagsterEventType

    job = defs.resolve_job_def(job_name)
    run_id = str(uuid.uuid4())
    total = len(job.nodes_in_topological_order) or 1
    stop = threading.Event()
    with Progress(
        TextColumn(f"[bold]{job_name} {partition}[/bold]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("starting", total=total)
        watcher = threading.Thread(
            target=_watch, args=(instance, run_id, total, progress, task, stop), daemon=True
        )
        watcher.start()
        log_dir = Settings.from_env().home / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{job_name}-{partition}-{run_id[:8]}.log"
        try:
            # step output (dbt's log lines among it) goes to a file, the progress bar to the terminal
            with open(log_path, "w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
                result = job.execute_in_process(
                    run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
                    instance=instance,
                    partition_key=partition,
                    raise_on_error=False,
                    run_id=run_id,
                    tags={"crmloop/source": "cli"},
                )
        finally:
            stop.set()
            watcher.join(timeout=5)
        progress.update(task, completed=total, description="done" if result.success else "FAILED")

    outcome = RunOutcome(
        partition=partition, job=job_name, success=result.success, run_id=run_id, log=log_path
    )
    for ev in result.all_events:
        if ev.event_type == DagsterEventType.STEP_FAILURE:
            err = ev.event_specific_data.error
            outcome.failed_steps.append(ev.step_key)
            outcome.messages.append(f"step {ev.step_key} failed: {err.message.strip() if err else ''}"[:2000])
        elif ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = ev.event_specific_data
            if not data.passed:
                sev = getattr(data.severity, "value", str(data.severity))
                name = f"{data.asset_key.to_user_string()}:{data.check_name}"
                why = (data.description or "").strip().replace("\n", " ")[:600]
                outcome.failed_checks.append(f"{name} ({sev}){': ' + why if why else ''}")
                if sev == "ERROR":
                    outcome.success = False
    return outcome


def pending_landing_dates(settings: Settings, as_of: date) -> list[date]:
    """Landing dates before as_of whose partition has not been ingested yet (no lake files), or
    that are held back (sources/partition_status.py) and whose landing files changed since."""
    from sources import landing_partitions, load_declarations
    from sources.partition_status import redelivered

    decls = load_declarations()
    pending: set[date] = set()
    for source, dates in landing_partitions(settings.landing_dir).items():
        decl = decls.get(source)
        if decl is None:
            continue
        for d in dates:
            if d >= as_of or d < settings.start_date:
                continue
            part = settings.lake_dir / decl.entity / f"load_date={d.isoformat()}"
            if not any(part.glob(f"{source}-*.parquet")):
                pending.add(d)
    # a blocked partition whose files were delivered again is ingested and checked again
    pending |= {
        s.load_date for s in redelivered(settings.lake_dir, settings.landing_dir) if s.load_date < as_of
    }
    return sorted(pending)


def run_daily(settings: Settings | None = None) -> bool:
    """One daily run as of settings.as_of (ingesting earlier landing partitions first)."""
    from dagster import DagsterInstance

    from orchestration.defs import build_definitions
    from orchestration.defs.automation import DAILY_JOB, INGEST_JOB

    settings = settings or Settings.from_env()
    prepare_dagster_home(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    console.print(
        f"crmloop run as of [bold]{settings.as_of}[/bold]  landing={settings.landing_dir}  home={settings.home}"
    )
    t0 = time.monotonic()
    defs = build_definitions()
    outcomes: list[RunOutcome] = []
    with DagsterInstance.get() as instance:
        for d in pending_landing_dates(settings, settings.as_of):
            outcomes.append(execute_partition(defs, INGEST_JOB, d.isoformat(), instance))
            if not outcomes[-1].success:
                break
        else:
            outcomes.append(execute_partition(defs, DAILY_JOB, settings.as_of.isoformat(), instance))
    ok = all(o.success for o in outcomes)
    from crmloop.summary import print_summary

    print_summary(settings, outcomes, elapsed=time.monotonic() - t0)
    return ok


def run_demo(customers: int, seed: int) -> bool:
    """The CRM loop over two days, as `make demo` shows it.

    Day 1 (as_of - 1): generate the retailer's extracts, ingest, model, gate, send (sandbox)
    and export. Then simulate what providers and customers send back (deliveries, opens,
    clicks, bounces, unsubscribes, STOPs, responses, purchases: more in treatment than in the
    holdout) into the landing zone. Day 2 (as_of): ingest that feedback and compare each
    campaign's KPI with its target."""
    from dataclasses import replace

    from crmloop.demo_data.generate import generate
    from crmloop.demo_data.simulated_customers import sends_from_warehouse, simulate_feedback
    from orchestration.defs.activation import send_date_for

    settings = Settings.from_env()
    day2 = settings.as_of
    day1 = day2 - timedelta(days=1)
    console.print(f"generating demo data: {customers:,} people, seed {seed}, history up to {day1}")
    summary = generate(customers=customers, seed=seed, out=settings.landing_dir, as_of=day1)
    console.print(summary.describe())

    console.rule(f"day 1: {day1}")
    if not run_daily(replace(settings, as_of=day1)):
        return False

    send_date = send_date_for(day1.isoformat())
    sends, keys = sends_from_warehouse(settings.warehouse_path, send_date)
    console.rule(f"provider feedback for the sends of {send_date}")
    fb = simulate_feedback(
        sends,
        send_date,
        settings.landing_dir,
        day=day2,
        seed=seed,
        plan_path=settings.plan_path,
        customer_keys=keys,
        progress=lambda m: console.print(f"  {m}"),
    )
    produced = ", ".join(f"{k} {v:,}" for k, v in fb.counts().items())
    console.print(f"  {len(sends):,} sends and holdout rows → {produced}")

    console.rule(f"day 2: {day2}")
    ok = run_daily(replace(settings, as_of=day2))
    from crmloop.summary import print_kpis

    print_kpis(settings)
    return ok
