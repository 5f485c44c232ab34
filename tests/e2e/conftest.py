"""End-to-end runs of the whole pipeline (`crmloop.runner.run_daily`) on small demo data.

A run costs about a minute, so the session prepares two states once and every test copies one
(`shutil.copytree`) instead of regenerating:

- `history`: demo data (landing) with the bulk history partition D-1 already ingested (home);
  a run of D from here ingests D, builds the warehouse, gates, activates.
- `day1`: `history` after one clean daily run of D (sends on D+1) with the e2e plan
  (`e2e_plan_text`: the default plan's calendar placed on D+1).

Every run sets the CRM_* variables the Dagster assets read (they read settings at run time),
records the runner's per-partition `RunOutcome`s and captures the printed run summary.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest

from crmloop.settings import Settings

CUSTOMERS = 400
SEED = 7
# D: a fixed business day, so the data does not depend on when the tests run (the daily partitions
# reach up to yesterday, so D+1, the STOP test's second day, exists on any later date).
AS_OF = date(2026, 11, 19)
SEND1 = AS_OF + timedelta(days=1)


def e2e_plan_text() -> str:
    """The default plan as a marketer would schedule it for the e2e day: the VIP invitation wave on
    D+1 (its reminder 7 days later, outside the test), and the welcome SMS sent with the welcome
    email on entry (instead of 3 days later to non-openers), so day 1 exercises every channel.
    Every other rule (triggers, windows, re-entry) is the default plan's."""
    from activations.plan.spec import DEFAULT_PLAN_PATH

    text = DEFAULT_PLAN_PATH.read_text(encoding="utf-8")
    for old, new in (
        ("    send_on: 2026-12-01\n", f"    send_on: {SEND1}\n"),
        (
            "    first_send: [email, ads]\n    follow_ups:\n      - {after_days: 3, channel: sms, to: non_responders}\n",
            "",
        ),
    ):
        assert old in text, old
        text = text.replace(old, new)
    return text


SECRETS = (
    "SENDGRID_API_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_MESSAGING_SERVICE_SID",
    "META_ACCESS_TOKEN", "META_AD_ACCOUNT_ID", "META_CUSTOM_AUDIENCE_ID",
)  # fmt: skip


@dataclass
class DayRun:
    """What one `run_daily` did: its return value, the runner's outcomes and the printed summary."""

    ok: bool
    outcomes: list = field(default_factory=list)
    summary: str = ""

    @property
    def failed_checks(self) -> list[str]:
        return [c for o in self.outcomes for c in o.failed_checks]

    @property
    def messages(self) -> list[str]:
        return [m for o in self.outcomes for m in o.messages]

    def error_checks(self) -> list[str]:
        return [c for c in self.failed_checks if "(ERROR)" in c]


def set_env(mp: pytest.MonkeyPatch, root: Path, as_of: date, plan: Path | None = None) -> None:
    mp.setenv("CRM_HOME", str(root / "home"))
    mp.setenv("CRM_LANDING_DIR", str(root / "landing"))
    mp.setenv("CRM_AS_OF", as_of.isoformat())
    mp.setenv("CRM_START_DATE", "2024-01-01")
    mp.setenv("CRM_ACTIVATION_MODE", "sandbox")
    mp.setenv("DAGSTER_HOME", str(root / "home" / "dagster"))
    if plan is not None:
        mp.setenv("CRM_PLAN", str(plan))
    else:
        mp.delenv("CRM_PLAN", raising=False)
    for name in SECRETS:
        mp.delenv(name, raising=False)
    for name in [n for n in __import__("os").environ if n.startswith("CRM_DQ_")]:
        mp.delenv(name, raising=False)


def run_day(
    root: Path, as_of: date, plan: Path | None = None, mp: pytest.MonkeyPatch | None = None
) -> DayRun:
    """`run_daily` as of `as_of` on `<root>/landing` and `<root>/home`.

    `mp`: a caller's MonkeyPatch (e.g. with a fault injected); its environment changes are undone
    by the caller. Without it the environment is restored on return."""
    from rich.console import Console

    import crmloop.summary as summary
    from crmloop import runner

    def go(m: pytest.MonkeyPatch) -> DayRun:
        set_env(m, root, as_of, plan)
        outcomes = []
        real = runner.execute_partition

        def recording(*args, **kwargs):
            outcome = real(*args, **kwargs)
            outcomes.append(outcome)
            return outcome

        m.setattr(runner, "execute_partition", recording)
        buf = io.StringIO()
        m.setattr(summary, "console", Console(file=buf, width=400, color_system=None))
        ok = runner.run_daily(Settings.from_env())
        return DayRun(ok=ok, outcomes=outcomes, summary=buf.getvalue())

    if mp is not None:
        return go(mp)
    with pytest.MonkeyPatch.context() as m:
        return go(m)


def copy_state(src: Path, dst: Path) -> Path:
    """A private copy of a prepared landing + home."""
    dst.mkdir(parents=True, exist_ok=True)
    for part in ("landing", "home"):
        if (src / part).exists():
            shutil.copytree(src / part, dst / part, symlinks=True)
    return dst


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def ingest_pending(root: Path, as_of: date) -> list:
    """Ingest every landing partition before `as_of` (the first half of `run_daily`)."""
    from dagster import DagsterInstance

    from crmloop import runner
    from orchestration.defs import build_definitions
    from orchestration.defs.automation import INGEST_JOB

    with pytest.MonkeyPatch.context() as m:
        set_env(m, root, as_of)
        settings = Settings.from_env()
        runner.prepare_dagster_home(settings)
        defs = build_definitions()
        outcomes = []
        with DagsterInstance.get() as instance:
            for d in runner.pending_landing_dates(settings, as_of):
                outcomes.append(runner.execute_partition(defs, INGEST_JOB, d.isoformat(), instance))
        return outcomes


@pytest.fixture(scope="session")
def history(tmp_path_factory) -> Path:
    """Demo landing (history in D-1, one day in D) with D-1 ingested into the lake."""
    from crmloop.demo_data.generate import generate

    root = tmp_path_factory.mktemp("e2e_history")
    generate(customers=CUSTOMERS, seed=SEED, out=root / "landing", as_of=AS_OF, truth_dir=root / "truth")
    outcomes = ingest_pending(root, AS_OF)
    assert outcomes and all(o.success for o in outcomes), [
        (o.partition, o.messages, o.failed_checks) for o in outcomes
    ]
    return root


@dataclass
class Day1:
    root: Path
    blocked: DayRun  # D with pos_orders.csv lacking its order_id column
    blocked_left: dict  # outbox and export files right after the blocked run
    run: DayRun  # D again after the corrected extract arrived: the clean run


@pytest.fixture(scope="session")
def day1(history, tmp_path_factory) -> Day1:
    """`history` after a daily run of D on a broken extract (a required column missing), then the
    rerun once the corrected extract is delivered: from there on the data is clean (default plan).
    Sharing one state keeps the suite's runtime down: the rerun is also the clean baseline."""
    from tests.e2e.landing_edit import edit_rows

    root = copy_state(history, tmp_path_factory.mktemp("e2e_day1"))
    plan = root / "plan.yml"
    plan.write_text(e2e_plan_text(), encoding="utf-8")
    path = root / "landing" / "orders" / AS_OF.isoformat() / "pos_orders.csv"
    original = path.read_bytes()
    edit_rows(path, lambda header, rows: ([c for c in header if c != "order_id"], rows))
    assert b'"order_id"' not in path.read_bytes().splitlines()[0]
    blocked = run_day(root, AS_OF, plan=plan)
    left = {part: [str(p) for p in files_under(root / "home" / part)] for part in ("outbox", "exports")}
    path.write_bytes(original)
    return Day1(root=root, blocked=blocked, blocked_left=left, run=run_day(root, AS_OF, plan=plan))


def check_evaluations(root: Path, run_id: str) -> tuple[list, object]:
    """The asset check evaluations Dagster recorded for one run (from the instance under the home)."""
    from dagster import DagsterEventType, DagsterInstance

    with pytest.MonkeyPatch.context() as m:
        m.setenv("DAGSTER_HOME", str(root / "home" / "dagster"))
        with DagsterInstance.get() as instance:
            records = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
            status = instance.get_run_by_id(run_id).status
    return [r.dagster_event.event_specific_data for r in records], status
