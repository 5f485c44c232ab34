"""`crmloop backfill --from D1 --to D2`: the daily run of each day, oldest first, as Dagster runs
of the daily job recorded in the instance under the home (what the UI shows per partition)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.activations.plan_fixture import DAILY_PLAN_PATH
from tests.browser.conftest import CUSTOMERS, DAY1, DAY2, SEED

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_backfill_runs_every_day_of_the_range_in_order_through_dagster(tmp_path):
    import dagster as dg

    from crmloop.demo_data.generate import generate

    landing, home = tmp_path / "landing", tmp_path / "home"
    generate(customers=CUSTOMERS, seed=SEED, out=landing, as_of=DAY2)  # history on DAY1, activity on DAY2
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "DAGSTER_HOME"))}
    env.update(CRM_PLAN=str(DAILY_PLAN_PATH), CRM_ACTIVATION_MODE="sandbox")  # no CRM_START_DATE
    crmloop = Path(sys.executable).with_name("crmloop")
    args = [str(crmloop), "backfill", "--landing", str(landing), "--home", str(home)]
    out = subprocess.run(
        [*args, "--from", DAY1.isoformat(), "--to", DAY2.isoformat()],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-4000:]
    assert f"backfill {DAY1} to {DAY2}: 2 day(s) done" in out.stderr

    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = instance.get_runs(
            filters=dg.RunsFilter(job_name="daily_run", statuses=[dg.DagsterRunStatus.SUCCESS])
        )
        partitions = [r.tags["dagster/partition"] for r in reversed(runs)]  # get_runs: newest first
    assert partitions == [DAY1.isoformat(), DAY2.isoformat()]

    # a day nothing landed for is refused (the preflight's sentence) and the backfill says how to resume
    later = DAY2 + timedelta(days=1)
    out = subprocess.run(
        [*args, "--from", later.isoformat(), "--to", later.isoformat()],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 1
    said = " ".join(out.stderr.split())
    assert f"nothing landed for {later}" in said
    assert f"backfill stopped at {later}: 0 of 1 day(s) done; resume with --from {later} --to {later}" in said
