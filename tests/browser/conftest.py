"""Fixtures of the browser tests: headless Debian Chromium driven by Playwright, and one small
demo crmloop (landing + home) shared by the tests of a module."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.activations.plan_fixture import DAILY_PLAN_PATH

CHROMIUM = Path(os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DAY1 = date(2025, 6, 29)  # the history partition of the demo data: the run launched from the UI
DAY2 = DAY1 + timedelta(days=1)  # one day of new activity plus the provider feedback of DAY1's sends
CUSTOMERS = 400
SEED = 7


@dataclass
class DemoCrm:
    root: Path
    home: Path
    landing: Path
    day1: date = DAY1
    day2: date = DAY2


@pytest.fixture(scope="module")
def chromium_context(tmp_path_factory):
    """A fresh headless Chromium (its own user-data-dir) as a Playwright browser context.

    Fails (never skips) when the Debian `chromium` package is missing: the browser tests are
    part of the slow suite and CI installs it (`apt-get install -y chromium`)."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install the Debian package "
            "(`apt-get update && apt-get install -y chromium`) or point CRM_CHROMIUM at a chromium binary",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def demo_crm(tmp_path_factory) -> DemoCrm:
    """A small demo retailer landed as of DAY2 (history in DAY1, one day of activity in DAY2), with
    CRM_* variables pointing at it for the module (in-process runs and `crmloop dev` alike)."""
    from crmloop.demo_data.generate import generate

    root = tmp_path_factory.mktemp("crm")
    crm = DemoCrm(root=root, home=root / "home", landing=root / "landing")
    mp = pytest.MonkeyPatch()
    mp.setenv("CRM_HOME", str(crm.home))
    mp.setenv("CRM_LANDING_DIR", str(crm.landing))
    # no CRM_START_DATE: the partitions start at the first landing date (DAY1), as a user's would
    mp.delenv("CRM_START_DATE", raising=False)
    mp.setenv("CRM_ACTIVATION_MODE", "sandbox")
    # the default plan as a whole-segment daily send: the report then has a holdout and a lift to
    # chart after two days (the calendar's triggers reach a handful of a small demo's people)
    mp.setenv("CRM_PLAN", str(DAILY_PLAN_PATH))
    mp.delenv("CRM_AS_OF", raising=False)
    # run_daily points DAGSTER_HOME at <home>/dagster; restore whatever was there after the module.
    mp.setenv("DAGSTER_HOME", os.environ.get("DAGSTER_HOME", str(crm.home / "dagster")))
    generate(customers=CUSTOMERS, seed=SEED, out=crm.landing, as_of=DAY2)
    yield crm
    mp.undo()
