"""Headless Chromium on the Dagster UI and on the campaign report (issue 6, "Report and UI").

1. `crmloop dev` on a small demo retailer: the lineage and the catalog show the ingestion
   (`lake/...`), dbt (`warehouse/...`) and activation (`activations/...`) assets and their
   checks; the daily job is launched for one partition from the launchpad, clicking as a person
   would, and the run's page shows success.
2. The next day is run in-process (with simulated provider feedback for the sends of the day
   launched from the UI) and its campaign report is opened from disk: every chart image has
   loaded and every section is there.

Screenshots of each step are kept as artefacts in ARTEFACTS (printed by the test; override
with CRM_BROWSER_ARTEFACTS): the asset graph grouped by layer and subject, a dbt asset with its
row count and columns, a lake asset with its checks, the run, the report. The checks expected
on each asset come from the Definitions object, not from the server under test.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.browser.conftest import DAY1, DAY2, SEED, DemoCrm
from tests.orchestration.dagster_dev import dagster_dev, graphql

pytestmark = [pytest.mark.slow, pytest.mark.browser]

RUN_TIMEOUT_S = 600
LOCATION = "orchestration.definitions"
DAILY_JOB = "daily_run"
ARTEFACTS = Path(
    os.environ.get("CRM_BROWSER_ARTEFACTS") or Path(__file__).resolve().parents[2] / "artefacts" / "browser"
)
# the groups of the asset graph: one per room, the dbt models by subject (their model folders)
GROUPS = {"ingestion", "staging", "identity", "profiles_and_ranks", "campaigns", "activation", "reports"}


def _artefacts(name: str) -> Path:
    folder = ARTEFACTS / name
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of {name}: {folder}")
    return folder


def _dismiss_popups(page, wait_ms: int = 500) -> None:
    """Dagster's first-visit "Join the community" dialog covers the page until skipped (once:
    the choice is kept in the profile's local storage)."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(state="visible", timeout=wait_ms)
    except Exception:  # no dialog this time
        return
    skip.click()
    skip.wait_for(state="hidden", timeout=10_000)


def _open(page, url: str, wait_for_text: str, shots, name: str, timeout_ms: int = 60_000) -> str:
    page.goto(url)
    _dismiss_popups(page, 8000 if name.startswith("01") else 500)
    page.get_by_text(wait_for_text, exact=True).first.wait_for(state="visible", timeout=timeout_ms)
    page.wait_for_timeout(1500)  # statuses and the rest of the rows stream in
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    return page.inner_text("body")


def _lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip()}


def _checks_of(defs, asset_path: list[str]) -> list[str]:
    """The checks the code location defines on an asset (what the UI must show)."""
    import dagster as dg

    return sorted(c.name for c in defs.resolve_asset_graph().get(dg.AssetKey(asset_path)).check_keys)


def _table_rows(home: Path, table: str) -> int:
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchall()[0][0]


def _model_columns(model: str) -> list[str]:
    import yaml

    [path] = (Path(__file__).resolve().parents[2] / "dbt_project" / "models").rglob(f"{model}.yml")
    [spec] = [m for m in yaml.safe_load(path.read_text())["models"] if m["name"] == model]
    return [c["name"] for c in spec["columns"]]


def _run_status_text(page) -> str | None:
    """The run's status as the run page's header shows it (Success, Failure, Started, ...)."""
    for status in (
        "Success",
        "Failure",
        "Canceled",
        "Canceling",
        "Started",
        "Starting",
        "Queued",
        "Not started",
    ):
        loc = page.get_by_text(status, exact=True)
        if loc.count() and loc.first.is_visible():
            return status
    return None


def test_dagster_ui_shows_the_pipeline_and_runs_a_day_launched_from_the_launchpad(
    chromium_context, demo_crm: DemoCrm, tmp_path
):
    from orchestration.defs import build_definitions
    from sources import load_declarations

    shots = _artefacts("dagster_ui")
    page = chromium_context.new_page()
    page.set_default_timeout(60_000)
    with dagster_dev(demo_crm.home, demo_crm.landing) as url:
        defs = build_definitions()  # the same environment as the server's: the expected checks
        # The global lineage: the groups of the pipeline, the dbt models by subject.
        text = _open(page, f"{url}/asset-groups", "profiles_and_ranks", shots, "01-lineage-groups")
        assert GROUPS <= _lines(text), text[:2000]
        # one subject's graph fits a screen
        _open(page, f"{url}/locations/{LOCATION}/asset-groups/profiles_and_ranks", "customer_ranks", shots,
              "01b-group-profiles-and-ranks")  # fmt: skip

        # The catalog by key prefix; a tall viewport so the virtualised list renders every row.
        page.set_viewport_size({"width": 1600, "height": 5200})
        text = _open(page, f"{url}/assets/lake", "orders", shots, "02-catalog-lake")
        missing = {s for s in load_declarations() if s not in _lines(text)}
        assert not missing, f"ingestion assets not shown under lake/: {sorted(missing)}"
        text = _open(page, f"{url}/assets/warehouse", "customer_ranks", shots, "03-catalog-warehouse")
        assert {
            "customer_profiles",
            "customer_ranks",
            "rank_summary",
            "campaign_results",
            "campaign_lift",
        } <= _lines(text)
        text = _open(page, f"{url}/assets/activations", "email", shots, "04-catalog-activations")
        assert {"campaign_audiences", "email", "sms", "ads", "marketer_files"} <= _lines(text)
        page.set_viewport_size({"width": 1600, "height": 1000})

        # Checks: the blocking quality gates of an ingestion asset and of the audiences, and the
        # dbt tests of the ranks, each on its asset's Checks tab.
        for path, name in (
            (["lake", "orders"], "05-checks-lake-orders"),
            (["warehouse", "customer_ranks"], "06-checks-customer-ranks"),
            (["activations", "campaign_audiences"], "07-checks-audiences"),
        ):
            expected = _checks_of(defs, path)
            assert expected, f"{'/'.join(path)} has no asset checks"
            text = _open(page, f"{url}/assets/{'/'.join(path)}?view=checks", expected[0], shots, name)
            assert set(expected) <= _lines(text), (path, expected)
            assert f"Checks ({len(expected)})" in text

        # Launch the daily job for DAY1 from the launchpad: pick the partition, click Launch Run.
        page.goto(f"{url}/locations/{LOCATION}/jobs/{DAILY_JOB}/playground")
        _dismiss_popups(page, 2000)
        picker = page.get_by_placeholder("Partition")
        picker.click()
        picker.fill(DAY1.isoformat())
        page.get_by_text(DAY1.isoformat(), exact=True).last.click()
        page.get_by_text(f"partition: {DAY1.isoformat()}", exact=True).wait_for(state="visible")
        page.screenshot(path=str(shots / "08-launchpad.png"))
        page.get_by_role("button", name="Launch Run").click()
        page.wait_for_url(re.compile(r".*/runs/[0-9a-f-]{36}.*"), timeout=60_000)
        run_id = re.search(r"/runs/([0-9a-f-]{36})", page.url).group(1)

        # Wait (bounded) until the run's own page says Success.
        deadline = time.monotonic() + RUN_TIMEOUT_S
        status = None
        while time.monotonic() < deadline:
            status = _run_status_text(page)
            if status in ("Success", "Failure", "Canceled"):
                break
            page.wait_for_timeout(5000)
        page.screenshot(path=str(shots / "09-run.png"))
        assert status == "Success", f"run {run_id} shows {status!r} after waiting; see {shots / '09-run.png'}"

        # The same run, as the API records it: the daily job, for DAY1, launched from the UI.
        run = graphql(
            url,
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { status jobName tags { key value } } } }",
            {"id": run_id},
        )["runOrError"]
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert run["status"] == "SUCCESS" and run["jobName"] == DAILY_JOB
        assert tags.get("dagster/partition") == DAY1.isoformat()

        # A dbt mart after the run: its row count (counted here in the warehouse) and the columns
        # of its YAML, as dagster-dbt's fetch_row_counts / fetch_column_metadata recorded them.
        rows = _table_rows(demo_crm.home, "marts.customer_ranks")
        assert rows > 0
        page.set_viewport_size({"width": 1600, "height": 2400})
        text = _open(
            page, f"{url}/assets/warehouse/customer_ranks", "Row count", shots, "10-dbt-asset-rows-columns"
        )
        lines = _lines(text)
        assert "Row count" in lines
        assert f"{rows:,}" in lines, (rows, text[:3000])
        missing = [c for c in _model_columns("customer_ranks") if c not in lines]
        assert not missing, (missing, text[:3000])
        # a lake asset with its checks evaluated by the run, and its partitions from the first landing date
        page.set_viewport_size({"width": 1600, "height": 1000})
        expected = _checks_of(defs, ["lake", "orders"])
        _open(
            page,
            f"{url}/assets/lake/orders?view=checks",
            expected[0],
            shots,
            "11-checks-lake-orders-after-run",
        )
        _open(page, f"{url}/assets/lake/orders?view=partitions", "orders", shots, "12-partitions-lake-orders")
    # the run of DAY1 sends on DAY1 + 1 and files its report under that send date, like its exports
    assert (demo_crm.home / "reports" / DAY2.isoformat() / "campaign_report.html").is_file()


def _day1_succeeded() -> bool:
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    from crmloop.runner import prepare_dagster_home

    prepare_dagster_home()
    with DagsterInstance.get() as instance:
        runs = instance.get_runs(
            filters=RunsFilter(
                job_name=DAILY_JOB,
                statuses=[DagsterRunStatus.SUCCESS],
                tags={"dagster/partition": DAY1.isoformat()},
            ),
            limit=1,
        )
    return bool(runs)


@pytest.fixture(scope="module")
def campaign_report(demo_crm: DemoCrm):
    """The report of DAY2: DAY1 (the UI test's run, or in-process when it did not succeed), the
    providers' simulated feedback on DAY1's sends, then DAY2 in-process."""
    from crmloop.demo_data.simulated_customers import sends_from_warehouse, simulate_feedback
    from crmloop.runner import run_daily
    from crmloop.settings import Settings
    from orchestration.defs.activation import send_date_for

    settings = Settings.from_env()
    if not _day1_succeeded():
        assert run_daily(replace(settings, as_of=DAY1)), f"daily run of {DAY1} failed"
    send_date = send_date_for(DAY1.isoformat())
    sends, keys = sends_from_warehouse(settings.warehouse_path, send_date)
    assert len(sends), f"no sends on {send_date} to simulate feedback for"
    simulate_feedback(
        sends,
        send_date,
        settings.landing_dir,
        day=DAY2,
        seed=SEED,
        plan_path=settings.plan_path,
        customer_keys=keys,
    )
    assert run_daily(replace(settings, as_of=DAY2)), f"daily run of {DAY2} failed"
    # filed like the exports under the send date of DAY2's run
    return settings.reports_dir / send_date_for(DAY2.isoformat()).isoformat() / "campaign_report.html"


def test_campaign_report_renders_every_chart_in_chromium(chromium_context, campaign_report, tmp_path):
    from activations.exports.campaign_report import CHARTS

    assert campaign_report.is_file(), campaign_report
    page = chromium_context.new_page()
    page.goto(campaign_report.as_uri())
    page.wait_for_load_state("load")
    page.screenshot(path=str(_artefacts("report") / "report.png"), full_page=True)

    images = page.evaluate(
        "() => Array.from(document.images).map(i => ({id: i.id, src: i.src.slice(0, 22), complete: i.complete,"
        " w: i.naturalWidth, h: i.naturalHeight}))"
    )
    assert len(images) == len(CHARTS), images
    for img in images:
        assert img["src"].startswith("data:image/png;base64"), img  # self-contained
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, f"chart {img['id']} did not render: {img}"
    assert {img["id"] for img in images} == {f"chart-{key}" for key, _, _ in CHARTS}

    headings = page.eval_on_selector_all("h2", "hs => hs.map(h => [h.id, h.innerText])")
    ids = {h[0] for h in headings}
    assert {"rank_distribution", "rank_migration", "kpi_vs_target", "funnel", "lift"} <= ids, headings
    assert {"diagnosis", "results", "lift-table"} <= ids, headings
    assert "No data yet." not in page.inner_text("body")
    # Each chart is under its own heading and actually painted at a visible size.
    for key, title, _ in CHARTS:
        assert page.locator(f"h2#{key}").inner_text() == title
        box = page.locator(f"#chart-{key}").bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, (key, box)
    # The results table lists a row per campaign and channel of the plan.
    rows = page.locator("h2#results + table tbody tr").count()
    assert rows >= 4, f"results table has {rows} rows"


LAPTOP = {"width": 1366, "height": 768}  # the most common laptop screen


def test_campaign_report_fits_a_laptop_screen(chromium_context, campaign_report, tmp_path):
    """At 1,366 px wide the whole report, every table included, fits without a horizontal
    scroll; the suppression breakdown lists every campaign and channel of the results table.
    The screenshot artefact is `report-1366.png` in the test's tmp_path."""
    page = chromium_context.new_page()
    page.set_viewport_size(LAPTOP)
    page.goto(campaign_report.as_uri())
    page.wait_for_load_state("load")
    page.screenshot(path=str(tmp_path / "report-1366.png"), full_page=True)

    assert page.evaluate("window.innerWidth") == LAPTOP["width"]
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= LAPTOP["width"], f"the report scrolls sideways: {scroll_width} px wide"
    # no table is cut off or overflows its own box either
    tables = page.evaluate(
        "() => Array.from(document.querySelectorAll('table')).map(t => ({section: t.previousElementSibling.id,"
        " right: t.getBoundingClientRect().right, scroll: t.scrollWidth, client: t.clientWidth}))"
    )
    assert {t["section"] for t in tables} >= {"results", "suppressions", "lift-table"}, tables
    for t in tables:
        assert t["right"] <= LAPTOP["width"], t
        assert t["scroll"] <= t["client"], t
    # the breakdown has a row per row of the results table, and the people it counts are the
    # results table's holdout + suppressed for the same campaign and channel
    results = page.eval_on_selector_all(
        "h2#results + table tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText))"
    )
    heads = page.eval_on_selector_all("h2#results + table th", "hs => hs.map(h => h.innerText)")
    sup_heads = page.eval_on_selector_all("h2#suppressions + table th", "hs => hs.map(h => h.innerText)")
    sup = page.eval_on_selector_all(
        "h2#suppressions + table tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText))"
    )
    as_int = lambda s: int(s.replace(",", ""))  # noqa: E731
    left_out = {}
    for r in sup:
        row = dict(zip(sup_heads, r, strict=True))
        left_out[(row["campaign"], row["channel"])] = as_int(row["left out"])
    expected = {}
    for r in results:
        row = dict(zip(heads, r, strict=True))
        expected[(row["campaign"], row["channel"])] = as_int(row["holdout"]) + as_int(row["suppressed"])
    assert left_out == expected
    assert sum(expected.values()) > 0, "the demo left nobody out: nothing to break down"
