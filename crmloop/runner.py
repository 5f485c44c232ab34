"""`crmloop run` and `crmloop demo`: daily runs in-process through Dagster, with progress.

Runs are recorded in the Dagster instance under <home>/dagster, so `make dev` shows them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from crmloop.settings import POSTGRES_STORAGE_YAML, REPO_ROOT, Settings
from crmloop.summary import say

console = Console(stderr=True)


def dagster_yaml(settings: Settings) -> bytes:
    """The instance's dagster.yaml: the repo's (concurrency, run monitoring, SQLite storage under
    $DAGSTER_HOME), with deploy/dagster-storage-postgres.yaml appended when CRM_DAGSTER_STORAGE=postgres
    (its connection fields are `env:` references that Dagster resolves: no credential in the file)."""
    text = (REPO_ROOT / "dagster.yaml").read_bytes()
    if settings.dagster_storage == "postgres":
        text += POSTGRES_STORAGE_YAML.read_bytes()
    return text


def prepare_dagster_home(settings: Settings | None = None) -> Path:
    """Write the instance's dagster.yaml (`dagster_yaml`) to <home>/dagster and point DAGSTER_HOME
    there (Dagster reads it only from $DAGSTER_HOME)."""
    settings = settings or Settings.from_env()
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    text = dagster_yaml(settings)
    dst = home / "dagster.yaml"
    if not dst.exists() or dst.read_bytes() != text:
        dst.write_bytes(text)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@dataclass
class Ingested:
    """What one ingestion step took in (from its materialization's metadata)."""

    source: str
    partition: str
    rows_in: int
    loaded: int
    quarantined: int
    rejected_rows: int = 0  # rows of the files rejected whole
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (landing file, reason)
    reasons: dict[str, int] = field(default_factory=dict)  # top quarantine reasons -> rows

    def top_reasons(self, n: int = 3) -> list[tuple[str, int]]:
        return sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


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
    ingested: list[Ingested] = field(default_factory=list)


def _meta(metadata, key: str, default=None):
    value = metadata.get(key)
    return default if value is None else getattr(value, "value", value)


def _ingested(ev, partition: str) -> Ingested | None:
    mat = ev.event_specific_data.materialization
    path = mat.asset_key.path
    if len(path) != 2 or path[0] != "lake" or "rows_in" not in mat.metadata:
        return None
    md = mat.metadata
    return Ingested(
        source=path[1],
        partition=mat.partition or partition,
        rows_in=int(_meta(md, "rows_in", 0)),
        loaded=int(_meta(md, "rows_loaded", 0)),
        quarantined=int(_meta(md, "rows_quarantined", 0)),
        rejected_rows=int(_meta(md, "rows_rejected", 0)),
        rejected=sorted(_meta(md, "rejected_files", {}).items()),
        reasons={str(k): int(v) for k, v in _meta(md, "top_quarantine_reasons", {}).items()},
    )


def write_run_log(log_path: Path, instance, run_id: str, result) -> None:
    """Append the run's own record to its log file (which holds the steps' stdout, dbt's lines):
    every Dagster event and log message, each failed step's full error, and each failed check's
    failing expectations (what the summary's one line per check points to)."""
    from dagster import DagsterEventType

    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n==== Dagster event log of run {run_id} ====\n")
        for rec in instance.all_logs(run_id):
            ev = rec.dagster_event
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(rec.timestamp))
            what = ev.event_type_value if ev is not None else "LOG"
            text = (ev.message if ev is not None and ev.message else rec.user_message) or ""
            log.write(f"{stamp}Z {what} {rec.step_key or '-'}: {text}\n")
        for ev in result.all_events:
            if ev.event_type == DagsterEventType.STEP_FAILURE:
                err = ev.event_specific_data.error
                log.write(f"\n==== step {ev.step_key} failed ====\n{err.to_string() if err else ''}\n")
            elif (
                ev.event_type == DagsterEventType.ASSET_CHECK_EVALUATION and not ev.event_specific_data.passed
            ):
                data = ev.event_specific_data
                sev = getattr(data.severity, "value", str(data.severity))
                log.write(
                    f"\n==== check {data.asset_key.to_user_string()}:{data.check_name} failed ({sev}) ====\n"
                    f"{(data.description or '').strip()}\n"
                )
                for key in ("failures", "data_docs"):
                    if key in data.metadata:
                        log.write(f"{key}:\n{_meta(data.metadata, key)}\n")


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
    defs, job_name: str, partition: str, instance, log_level: str = "CRITICAL"
) -> RunOutcome:
    """Execute one job for one partition in-process, with a progress bar; never raises on step failure.

    Dagster's console logger stays quiet (`log_level`): the terminal shows the progress bar and
    the summary, the run's log file every event and each failure in full (`write_run_log`)."""
    from dagster import DagsterEventType

    from crmloop.recovery import process_tags

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
                    tags={"crmloop/source": "cli", **process_tags()},
                )
        finally:
            stop.set()
            watcher.join(timeout=5)
        progress.update(task, completed=total, description="done" if result.success else "FAILED")

    outcome = RunOutcome(
        partition=partition, job=job_name, success=result.success, run_id=run_id, log=log_path
    )
    write_run_log(log_path, instance, run_id, result)
    for ev in result.all_events:
        if ev.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            if (ingested := _ingested(ev, partition)) is not None:
                outcome.ingested.append(ingested)
        elif ev.event_type == DagsterEventType.STEP_FAILURE:
            err = ev.event_specific_data.error
            outcome.failed_steps.append(ev.step_key)
            why = " ".join((err.message if err else "").split())
            outcome.messages.append(f"step {ev.step_key} failed: {why}"[:2000])
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
    that are held back (sources/partition_status.py) and whose landing files changed since.
    An empty landing folder delivers nothing: it is not a date to ingest."""
    from sources import landing_partitions, load_declarations
    from sources.ingest import landing_files
    from sources.lake import partition_dir
    from sources.partition_status import redelivered

    decls = load_declarations()
    pending: set[date] = set()
    for source, dates in landing_partitions(settings.landing_dir).items():
        decl = decls.get(source)
        if decl is None:
            continue
        for d in dates:
            if (
                d >= as_of
                or (settings.start_date and d < settings.start_date)
                or not landing_files(settings.landing_dir, source, d)
            ):
                continue
            part = partition_dir(settings.lake_dir, decl.entity, d)
            if not any(part.glob(f"{source}-*.parquet")):
                pending.add(d)
    # a blocked partition whose files were delivered again is ingested and checked again
    pending |= {
        s.load_date
        for s in redelivered(settings.lake_dir, settings.landing_dir, decls)
        if s.load_date < as_of
    }
    return sorted(pending)


def run_daily(settings: Settings | None = None) -> bool:
    """One daily run as of settings.as_of (ingesting earlier landing partitions first)."""
    from dagster import DagsterInstance

    from crmloop.preflight import RunRefused, check_plan, landing_work
    from crmloop.recovery import SlotHeld, recover_dead_runs
    from orchestration.defs import build_definitions
    from orchestration.defs.automation import DAILY_JOB, INGEST_JOB

    settings = settings or Settings.from_env()
    try:
        work = landing_work(settings)
        for warning in work.warnings:
            say(console, f"warning: {warning}", "yellow")
        check_plan(settings)
    except RunRefused as exc:
        say(console, f"crmloop run as of {settings.as_of} refused: {exc}", "red")
        return False
    prepare_dagster_home(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    console.print(
        f"crmloop run as of [bold]{settings.as_of}[/bold]  landing={settings.landing_dir}  home={settings.home}"
    )
    t0 = time.monotonic()
    defs = build_definitions()
    outcomes: list[RunOutcome] = []
    with DagsterInstance.get() as instance:
        try:
            for recovered in recover_dead_runs(instance):
                say(console, recovered.describe(), "yellow")
        except SlotHeld as exc:
            say(console, f"crmloop run as of {settings.as_of} refused: {exc}", "red")
            return False
        for d in pending_landing_dates(settings, settings.as_of):
            outcomes.append(execute_partition(defs, INGEST_JOB, d.isoformat(), instance))
            if not outcomes[-1].success:
                break
        else:
            outcomes.append(execute_partition(defs, DAILY_JOB, settings.as_of.isoformat(), instance))
    ok = all(o.success for o in outcomes)
    from crmloop.summary import print_summary

    print_summary(settings, outcomes, elapsed=time.monotonic() - t0, warnings=work.warnings)
    return ok


def run_backfill(settings: Settings, first: date, last: date) -> bool:
    """`crmloop backfill --from FIRST --to LAST`: the daily run of every day from FIRST to LAST,
    oldest first, one after the other in this process (so one DuckDB writer at a time), each a
    Dagster run of the daily job recorded in the instance like `crmloop run`'s (the UI shows them
    per partition). Stops at the first day that fails or is refused, naming how to resume."""
    from dataclasses import replace

    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    for i, day in enumerate(days, 1):
        console.rule(f"backfill {i}/{len(days)}: {day}")
        if not run_daily(replace(settings, as_of=day)):
            done = f"{i - 1} of {len(days)} day(s) done" + (f" ({first} to {days[i - 2]})" if i > 1 else "")
            say(console, f"backfill stopped at {day}: {done}; resume with --from {day} --to {last}", "red")
            return False
    say(console, f"backfill {first} to {last}: {len(days)} day(s) done", "green")
    return True


DEMO_DAYS = 3
"""Consecutive business days `crmloop demo` runs before the judged day (its as-of date)."""


def demo_days(as_of: date, plan_path: Path, days: int = DEMO_DAYS) -> list[date]:
    """The demo's run days: `days` consecutive days, then `as_of`, the judged day, the first on
    which every KPI window of the plan opened by the last consecutive day's sends has closed (the
    sends of a run as of D go out on D + 1; a window of N days opened on S closes on S + N - 1,
    as marts.campaign_results reads it)."""
    from activations.plan.spec import load_plan

    window = max(c.kpi.window_days for c in load_plan(plan_path).campaigns)
    last = as_of - timedelta(days=window)
    return [last - timedelta(days=days - 1 - i) for i in range(days)] + [as_of]


def signup_drive_days(plan_path: Path, first_send_date: date) -> tuple[date, date] | None:
    """The days a registration must fall on to enter every registration-triggered campaign of the
    plan on `first_send_date` (a trigger enters people whose event is between delay_days and
    entry_window_days before the send date); None when no campaign is triggered by registration."""
    from activations.plan.spec import load_plan

    rules = [
        c.trigger
        for c in load_plan(plan_path).campaigns
        if c.kind == "trigger" and c.trigger.event == "registration"
    ]
    if not rules:
        return None
    first = first_send_date - timedelta(days=min(r.entry_window_days for r in rules))
    last = first_send_date - timedelta(days=max(r.delay_days for r in rules))
    return (first, last) if first <= last else None


def land_extracts(extracts: Path, landing: Path, day: date) -> list[Path]:
    """Move every `<extracts>/<source>/<date>/` folder dated on or before `day` into the landing
    zone (as the source systems deliver them on the morning of the run); returns the folders."""
    from sources import landing_partitions

    moved = []
    for source, days in landing_partitions(extracts).items():
        for when in (d for d in days if d <= day):
            dst = landing / source / when.isoformat()
            if dst.exists():
                raise FileExistsError(f"{dst} already exists: the demo starts from an empty landing zone")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(extracts / source / when.isoformat()), dst)
            moved.append(dst)
    return moved


DEMO_MARKER = ".crmloop-demo"


def fresh_demo_dirs(settings: Settings) -> None:
    """The demo starts from an empty landing zone and home. A previous demo's (its home holds
    DEMO_MARKER naming its landing zone) is removed; anything else that is not empty is refused,
    so the demo never mixes its data into a real landing zone or warehouse."""
    home, landing = settings.home, settings.landing_dir
    marker = home / DEMO_MARKER
    previous = marker.exists() and marker.read_text(encoding="utf-8").strip() == str(landing.resolve())
    for folder in (landing, home):
        if previous:
            shutil.rmtree(folder, ignore_errors=True)
        elif folder.exists() and any(p.is_file() for p in folder.rglob("*")):
            raise FileExistsError(
                f"{folder} is not empty and is not a previous demo's: the demo needs an empty landing zone and "
                "home (give --landing and --home new folders)"
            )
    home.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(landing.resolve()), encoding="utf-8")


def write_demo_plan(src: Path, dst: Path, first_send_date: date) -> int:
    """The demo's copy of the plan with every broadcast moved onto the demo's first send date
    (its date variables, e.g. the event and the RSVP deadline, moved by as many days), so the
    demo sends the broadcasts whatever day it runs. Returns how many broadcasts moved."""
    import yaml

    plan = yaml.safe_load(src.read_text(encoding="utf-8"))
    moved = 0
    for c in plan.get("campaigns", []):
        if c.get("kind") != "broadcast" or c.get("send_on") is None:
            continue
        old = c["send_on"] if isinstance(c["send_on"], date) else date.fromisoformat(str(c["send_on"]))
        shift = first_send_date - old
        c["send_on"] = first_send_date
        for name, value in (c.get("variables") or {}).items():
            try:
                c["variables"][name] = (date.fromisoformat(str(value)) + shift).isoformat()
            except ValueError:
                pass
        moved += 1
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(
        f"# crmloop demo: {src} with its broadcasts moved onto {first_send_date} (written by crmloop demo)\n"
        + yaml.safe_dump(plan, sort_keys=False, allow_unicode=True, width=120),
        encoding="utf-8",
    )
    return moved


def run_demo(customers: int, seed: int, days: int = DEMO_DAYS) -> bool:
    """The CRM loop over `days` consecutive days, then on the day their KPI windows close, as
    `make demo` shows it.

    The days are `demo_days(as_of)`: `days` consecutive days ending one KPI window before as_of,
    then as_of, the judged day. Day 1: generate the retailer's extracts (a bulk history and one
    day of activity per consecutive day, each landing on the morning of its run), ingest, model,
    gate, send (sandbox) and export. After each day, the simulated customers answer that day's sends over the whole KPI
    window, with the causes a marketer would recognise (`DEMO_CAUSES`: an unclear subject line, a
    long email, an application form that loses people, a target too high, a party people would
    have bought without): the providers' events land the next day, each response and purchase
    with the first run on or after its date. The days between the last consecutive day and the
    judged day are not run: what they would have brought arrives in the judged day's files. The
    end shows, per campaign and send date, who entered, who was sent to and how many of them had
    already received the campaign on that channel (read from the send ledger), then each of those
    sends' KPI against its target, judged, with the diagnosis of each miss, and, for campaigns that
    split their audience between personal and control send times (`send_time_control`), each arm's
    email open rate."""
    from dataclasses import replace

    from crmloop.demo_data.generate import DEMO_SIGNUP_SHARE, SignupDrive, generate
    from crmloop.demo_data.simulated_customers import (
        DEMO_CAUSES,
        FeedbackRates,
        plan_kpi_metrics,
        sends_from_warehouse,
        simulate,
        split_deliveries,
        write_feedback,
    )
    from orchestration.defs.activation import send_date_for

    settings = Settings.from_env()
    fresh_demo_dirs(settings)
    *run_days, judged = demo_days(settings.as_of, settings.plan_path, days)
    send_dates = [send_date_for(d.isoformat()) for d in run_days]
    if "CRM_PLAN" not in os.environ:
        demo_plan = settings.home / "demo_plan.yml"
        moved = write_demo_plan(settings.plan_path, demo_plan, send_dates[0])
        os.environ["CRM_PLAN"] = str(demo_plan)
        if moved:
            console.print(f"demo plan: {demo_plan} ({moved} broadcast(s) moved onto {send_dates[0]})")
    # The generator writes a bulk history and one day of extracts per consecutive day; the judged
    # day brings only what the providers and customers sent back since (the days between are not
    # run). Gates that expect every source to deliver daily would block the judged day on the demo
    # itself, so the demo (and only the demo, where the user has not set them) judges freshness
    # over its whole span and volume only once a source has a week of partitions; it says so.
    relaxed = {
        # the product catalogue comes with the bulk history only
        "CRM_DQ_FRESHNESS_DAYS": str((judged - run_days[0]).days + 2),
        "CRM_DQ_VOLUME_MIN_HISTORY": "7",
    }
    relaxed = {k: v for k, v in relaxed.items() if k not in os.environ}
    os.environ.update(relaxed)
    settings = Settings.from_env()
    if relaxed:
        console.print(
            f"demo data: daily extracts {run_days[0]} to {run_days[-1]}, then only provider feedback up to "
            f"{judged}; for the demo " + ", ".join(f"{k}={v}" for k, v in relaxed.items())
        )
    # a sign-up fair on the days whose registrations enter the welcome on the first send date: the
    # welcome campaign's first cohort
    drive_days = signup_drive_days(settings.plan_path, send_dates[0])
    drive = SignupDrive(*drive_days, DEMO_SIGNUP_SHARE) if drive_days else None
    console.print(
        f"generating demo data: {customers:,} people, seed {seed}, history up to {run_days[0] - timedelta(days=1)}, "
        f"then the extracts of {run_days[0]} to {run_days[-1]}"
        + (
            f", with a sign-up drive from {drive.first} to {drive.last} ({drive.share:.0%} of the prospects "
            "register then)"
            if drive
            else ""
        )
    )
    # each day's extracts wait outside the landing zone until the morning of its run
    extracts = settings.home / "demo_extracts"
    shutil.rmtree(extracts, ignore_errors=True)
    summary = generate(
        customers=customers,
        seed=seed,
        out=extracts,
        as_of=run_days[-1],
        days=len(run_days),
        signup_drive=drive,
        truth_dir=settings.landing_dir.resolve().parent / "demo_truth",
    )
    console.print(summary.describe())

    metrics = plan_kpi_metrics(settings.plan_path)
    rates = FeedbackRates(causes=DEMO_CAUSES)
    pending: dict[date, list] = {}  # delivery day -> feedback parts (send date tag, FeedbackSet)
    for i, day in enumerate([*run_days, judged]):
        if day == judged:
            console.rule(
                f"judged day: {day}, when the KPI windows of {send_dates[0]} to {send_dates[-1]} have closed "
                f"(the {(judged - run_days[-1]).days - 1} days between are not run; their feedback is in the "
                "files this day ingests)"
            )
        else:
            console.rule(f"day {i + 1}: {day}")
        land_extracts(extracts, settings.landing_dir, day)
        for due in sorted(d for d in pending if d <= day):
            for tag, part in pending.pop(due):
                write_feedback(part, settings.landing_dir, tag=tag)
        if not run_daily(replace(settings, as_of=day)):
            return False
        if day == judged:
            break
        send_date = send_dates[i]
        sends, keys = sends_from_warehouse(settings.warehouse_path, send_date, settings.plan_path)
        fb = simulate(
            sends,
            send_date,
            day=send_date,
            window_end=judged,
            seed=seed + i,
            rates=rates,
            kpi_metrics=metrics,
            customer_keys=keys,
        )
        deliveries = [send_date, *(d for d in run_days[i + 1 :] if d > send_date), judged]
        for due, part in split_deliveries(fb, deliveries).items():
            pending.setdefault(due, []).append((send_date.isoformat(), part))
        produced = ", ".join(f"{k} {v:,}" for k, v in fb.counts().items())
        console.print(
            f"simulated customers: {len(sends):,} sends and holdout rows of {send_date} → {produced}, "
            f"delivered on {', '.join(str(d) for d in sorted(set(deliveries)))}"
        )

    from crmloop.summary import print_demo_days, print_demo_kpis, print_send_time_arms

    print_demo_days(settings, send_dates)
    print_demo_kpis(settings, send_dates)
    print_send_time_arms(settings, send_dates)
    return True
