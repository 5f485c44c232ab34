"""The campaign report: self-contained HTML with every chart a valid embedded PNG; markdown with
small embedded images; works on an empty warehouse (first day)."""

from __future__ import annotations

import base64
import re
from datetime import date

import duckdb
import pandas as pd

from activations.exports.campaign_report import (
    CHARTS,
    MAX_MARKDOWN_IMAGE_BYTES,
    ReportData,
    chart_lift,
    render_markdown,
    report_markdown,
    write_report,
)
from tests.campaigns.scenario import AS_OF, EMAIL_CAMPAIGN

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IMG = re.compile(r"<img id='chart-([a-z_]+)' alt='[^']*' src='data:image/png;base64,([A-Za-z0-9+/=]+)'>")


def _valid_png(b64: str) -> bytes:
    raw = base64.b64decode(b64, validate=True)
    assert raw.startswith(PNG_MAGIC)
    assert raw[12:16] == b"IHDR" and raw.rstrip().endswith(b"IEND\xaeB`\x82")
    return raw


def test_html_report_embeds_every_chart(built, tmp_path):
    as_of = date.fromisoformat(AS_OF)
    path = write_report(built["warehouse"], tmp_path / "reports", as_of)
    assert path == tmp_path / "reports" / AS_OF / "campaign_report.html"
    text = path.read_text(encoding="utf-8")
    charts = dict(IMG.findall(text))
    assert set(charts) == {key for key, _, _ in CHARTS}
    for b64 in charts.values():
        _valid_png(b64)
    # self-contained: no external references
    assert not re.search(r"(src|href)=['\"](?!data:)", text)
    assert "http://" not in text and "https://" not in text
    # the diagnosis and the tables
    assert "the application process was too complicated: people clicked but few applied" in text
    assert f"<td>{EMAIL_CAMPAIGN}</td>" in text
    assert "not significant" in text
    assert "75.0%" in text  # the ad match rate


def test_markdown_images_small_and_valid(built):
    md = report_markdown(built["warehouse"], date.fromisoformat(AS_OF))
    images = re.findall(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", md)
    assert len(images) == len(CHARTS)
    for b64 in images:
        assert len(_valid_png(b64)) < MAX_MARKDOWN_IMAGE_BYTES
    assert "| regular_winback | email |" in md


def test_markdown_drops_images_over_the_limit(built):
    from activations.exports.campaign_report import load_report_data

    md = render_markdown(load_report_data(built["warehouse"], date.fromisoformat(AS_OF)), max_image_bytes=100)
    assert "data:image/png" not in md
    assert md.count("Chart omitted") == len(CHARTS)


def test_report_on_empty_warehouse(tmp_path):
    """First day: no marts at all → the report still renders, every chart says no data."""
    wh = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(wh)).close()
    path = write_report(wh, tmp_path / "reports", date(2025, 6, 1))
    text = path.read_text(encoding="utf-8")
    assert "data:image/png" not in text
    assert text.count("No data yet.") >= len(CHARTS)
    assert "marts.campaign_results" in text  # listed as not built yet
    assert "No missed KPI." in report_markdown(tmp_path / "absent.duckdb", date(2025, 6, 1))


def test_lift_chart_skips_rows_without_holdout():
    df = pd.DataFrame(
        {
            "campaign_id": ["a", "b"],
            "lift": [0.05, None],
            "lift_ci_low": [0.02, None],
            "lift_ci_high": [0.08, None],
            "significance": ["significant", "not significant"],
        }
    )
    assert chart_lift(df).startswith(PNG_MAGIC)
    assert chart_lift(df.iloc[1:]) is None
    # marts built but empty: each section says what it waits for, not "No data yet"
    md = render_markdown(ReportData(as_of=date(2025, 6, 1)))
    assert "No data yet" not in md and "_Nothing sent yet._" in md


def test_first_day_lake_without_campaign_data(tmp_path):
    """No export, no feedback yet: the campaign models build (empty) and the report renders."""
    from bench.lake import write_empty_entities, write_partition
    from tests.campaigns.conftest import SELECT, release_dbt_connection
    from tests.dbt.dbt_helpers import dbt_in_process, query
    from tests.dbt.lake_fixtures import customer

    lake, wh = tmp_path / "lake", tmp_path / "wh" / "warehouse.duckdb"
    wh.parent.mkdir()
    write_partition(lake, "customers", "2025-06-01", [customer("pos", "1", email="a@example.com")])
    write_empty_entities(
        lake, entities=["orders", "order_lines", "products", "web_events", "consents", "support_tickets"]
    )
    assert not (lake / "campaign_sends").exists() and not (lake / "email_events").exists()
    dbt_in_process(["build", *SELECT], warehouse=wh, lake=lake, work=tmp_path / "w", as_of="2025-06-01")
    release_dbt_connection()
    for mart in ("campaign_results", "campaign_lift", "ad_match_rates"):
        assert query(wh, f"select count(*) from marts.{mart}") == [(0,)]
    text = write_report(wh, tmp_path / "reports", date(2025, 6, 1)).read_text(encoding="utf-8")
    assert "chart-rank_distribution" in text  # ranks exist on day one
    assert "chart-kpi_vs_target" not in text and "No missed KPI." in text
