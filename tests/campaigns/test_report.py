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
from tests.campaigns.scenario import AS_OF, EMAIL_CAMPAIGN, SMS_CAMPAIGN

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
    assert EMAIL_CAMPAIGN in {r["campaign"] for r in _cells(text, "results")}
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


def _cells(html_text: str, section: str) -> list[dict[str, str]]:
    """The rows of the table under <h2 id=section> as {header: cell text}."""
    import html as html_lib

    m = re.search(rf"<h2 id='{section}'>.*?</h2>\s*<table>(.*?)</table>", html_text, re.S)
    assert m, f"no table under #{section}"
    heads = [html_lib.unescape(h) for h in re.findall(r"<th>(.*?)</th>", m.group(1))]
    body = re.search(r"<tbody>(.*)</tbody>", m.group(1), re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [
        dict(
            zip(
                heads,
                [
                    html_lib.unescape(c.replace("<wbr>", ""))
                    for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)
                ],
                strict=True,
            )
        )
        for r in rows
    ]


def test_suppression_breakdown_per_campaign_from_the_suppression_records(built, tmp_path):
    """regular_winback's cohort of 100 (scenario.py): holdout 40; suppressed 1..3 unsubscribed,
    4 frequency-capped, 5 without consent → 45 left out; prospect_welcome left nobody out."""
    text = write_report(built["warehouse"], tmp_path / "reports", date.fromisoformat(AS_OF)).read_text(
        "utf-8"
    )
    rows = {(r["campaign"], r["channel"]): r for r in _cells(text, "suppressions")}
    email = rows[(EMAIL_CAMPAIGN, "email")]
    assert email["send date"] == "2025-06-01"
    assert (email["audience"], email["holdout"], email["left out"], email["share left out"]) == (
        "100",
        "40",
        "45",
        "45.0%",
    )
    assert (email["consent"], email["suppression list"], email["frequency cap"]) == ("1", "3", "1")
    assert (email["invalid address"], email["duplicate address"]) == ("0", "0")
    assert email["suppression reasons"] == "unsubscribed 3, frequency cap 1, no consent 1"
    sms = rows[(SMS_CAMPAIGN, "sms")]
    assert (sms["audience"], sms["holdout"], sms["left out"], sms["suppression reasons"]) == (
        "20",
        "0",
        "0",
        "",
    )
    # the same counts as the cohort's row of campaign_results: holdout + suppressed
    results = {(r["campaign"], r["channel"]): r for r in _cells(text, "results")}
    assert (
        results[(EMAIL_CAMPAIGN, "email")]["holdout"],
        results[(EMAIL_CAMPAIGN, "email")]["suppressed"],
    ) == (
        "40",
        "5",
    )


COUNT = re.compile(r"\d{1,3}(,\d{3})*")
PERCENT = re.compile(r"-?\d{1,3}(,\d{3})*\.\d%")
POINTS = re.compile(r"([+-]\d{1,3}(,\d{3})*\.\d|0\.0) pp")


def _big_report_data() -> ReportData:
    """A large retailer's numbers (thousands and millions) in every table of the report."""
    cohort = {
        "campaign_id": "regular_winback",
        "channel": "email",
        "send_date": date(2026, 11, 22),
        "audience": 123456,
        "holdout": 12345,
        "suppressed": 4321,
        "sent": 106790,
        "delivered": 105000,
        "unique_opens": 31500,
        "unique_clicks": 2100,
        "responded_rsvp": 0,
        "responded_attended": 0,
        "responded_applied": 1234,
        "responded_redeemed": 0,
        "converted_sent": 2345,
        "kpi_metric": "apply_rate",
        "kpi_target": 0.15,
        "kpi_actual": 0.011555,
        "kpi_state": "missed",
        "kpi_status": "missed",
        "kpi_window_day": 30,
        "kpi_window_days": 30,
        "kpi_window_last_day": date(2026, 12, 21),
        "diagnosis_code": "application_process",
        "diagnosis": "the application process was too complicated",
    }
    results = pd.DataFrame([cohort])
    lift = pd.DataFrame(
        [
            {
                "campaign_id": "regular_winback",
                "send_date": date(2026, 11, 22),
                "window": "closed",
                "n_treatment": 111111,
                "converted_treatment": 2345,
                "revenue_treatment": 12345678.9,
                "conversion_rate_treatment": 0.0211,
                "n_holdout": 12345,
                "converted_holdout": 200,
                "conversion_rate_holdout": 0.0162,
                "lift": 0.0049,
                "lift_ci_low": -0.0003,
                "lift_ci_high": 0.0101,
                "significance": "not significant",
            }
        ]
    )
    reasons = pd.DataFrame(
        [
            ("regular_winback", "email", date(2026, 11, 22), "holdout", 12345),
            ("regular_winback", "email", date(2026, 11, 22), "no_consent", 3210),
            ("regular_winback", "email", date(2026, 11, 22), "frequency_cap", 1111),
        ],
        columns=["campaign_id", "channel", "send_date", "reason", "people"],
    )
    periods = pd.DataFrame(
        [{"grain": "month", "period_start": date(2026, 11, 1), "send_days": 30, **cohort, "sent": 2345678}]
    )
    match = pd.DataFrame(
        [
            ("meta", "regular_winback", "aud1", pd.Timestamp("2026-11-22"), 106790, 80123, 0.7503)
        ],  # as DuckDB gives it
        columns=[
            "platform",
            "campaign_id",
            "audience_id",
            "report_date",
            "uploaded_users",
            "matched_users",
            "match_rate",
        ],
    )
    return ReportData(
        as_of=date(2026, 12, 21),
        send_date=date(2026, 12, 22),
        results=results,
        judged=results,
        periods=periods,
        lift=lift,
        suppression_reasons=reasons,
        match_rates=match,
    )


def test_every_number_in_the_report_reads_one_way():
    """Counts with thousands separators, shares as one-decimal percentages, lift in signed
    percentage points, revenue in whole units with separators: the same in every table."""
    from activations.exports.campaign_report import render_html

    text = render_html(_big_report_data())
    cells = [
        c
        for section in ("results", "suppressions", "judged", "periods", "lift-table", "match-rates")
        for row in _cells(text, section)
        for c in row.values()
    ]
    numeric = [c for c in cells if re.match(r"[\d+\-\[]", c) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", c)]
    assert numeric, cells
    kinds = {"count": COUNT, "percent": PERCENT, "points": POINTS}
    odd = [
        c
        for c in numeric
        if not any(p.fullmatch(c) for p in kinds.values())
        and not re.fullmatch(r"\[.* pp, .* pp\]", c)  # the lift interval
        and not re.search(r"[a-z]{3,} \d", c)  # "no consent 3,210, frequency cap 1,111"
    ]
    assert not odd, odd
    for expected in (
        "123,456",
        "12,345",
        "2,345,678",
        "12,345,679",
        "80,123",
        "1.2%",
        "15.0%",
        "75.0%",
        "+0.5 pp",
    ):
        assert f"<td class='n'>{expected}</td>" in text, expected  # right-aligned, never wrapped
    assert "<td class='n'>[0.0 pp, +1.0 pp]</td>" in text  # no "-0.0 pp"
    assert "<td>no consent 3,210, frequency cap 1,111</td>" in text
    assert "<td>regular_<wbr>winback</td>" in text  # an identifier wraps after an underscore first
    assert "<td class='n'>2026-11-22</td>" in text and "00:00:00" not in text  # dates read as dates
    assert "123456" not in text and "12345678" not in text
