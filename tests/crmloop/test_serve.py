"""`crmloop serve`: the home's reports and data docs over loopback HTTP, nothing else of the home,
and the Dagster links that point at it."""

from __future__ import annotations

import http.client
import threading
from pathlib import Path

import dagster as dg
import pytest

from crmloop.serve import make_server, served_url
from crmloop.settings import DEFAULT_SERVE_PORT, Settings, SettingsError, serve_port


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    s = Settings(landing_dir=tmp_path / "landing", home=tmp_path / "home", as_of=None, start_date=None)
    for day in ("2026-11-29", "2026-11-30"):
        (s.reports_dir / day).mkdir(parents=True)
        (s.reports_dir / day / "campaign_report.html").write_text(f"<h1>report {day}</h1>")
    (s.data_docs_dir / "runs").mkdir(parents=True)
    (s.data_docs_dir / "index.html").write_text("<h1>gx</h1>")
    (s.data_docs_dir / "runs" / "index.html").write_text("<h1>runs</h1>")
    s.warehouse_path.write_text("not for the browser")
    (tmp_path / "secret.txt").write_text("outside the home")
    (s.reports_dir / "2026-11-30" / "leak").symlink_to(tmp_path / "secret.txt")
    (s.data_docs_dir / "out").symlink_to(tmp_path)
    return s


@pytest.fixture
def server(home: Settings):
    srv = make_server(home, 0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join(5)


def _get(server, raw_path: str, method: str = "GET") -> tuple[int, bytes]:
    """One request with the path sent as written (http.client does not normalise it)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
    conn.putrequest(method, raw_path, skip_accept_encoding=True)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def test_listens_on_loopback_only(server):
    assert server.server_address[0] == "127.0.0.1"


def test_index_links_every_report_by_send_date_and_the_data_docs(server):
    status, body = _get(server, "/")
    page = body.decode()
    assert status == 200
    assert page.index("2026-11-30") < page.index("2026-11-29")  # newest first
    for href in (
        "/reports/2026-11-30/campaign_report.html",
        "/reports/2026-11-29/campaign_report.html",
        "/data_docs/index.html",
        "/data_docs/runs/index.html",
    ):
        assert f"href='{href}'" in page
        assert _get(server, href)[0] == 200


def test_serves_a_report(server):
    assert _get(server, "/reports/2026-11-30/campaign_report.html") == (200, b"<h1>report 2026-11-30</h1>")


@pytest.mark.parametrize(
    "path",
    [
        "/warehouse.duckdb",  # in the home, not in a served folder
        "/reports/../warehouse.duckdb",
        "/reports/%2e%2e/warehouse.duckdb",
        "/reports/2026-11-30/../../../secret.txt",
        "/data_docs/..%2f..%2fsecret.txt",
        "//etc/passwd",
        "/etc/passwd",
        "/reports//etc/passwd",
        "/reports/2026-11-30/leak",  # a symlink to a file outside
        "/data_docs/out/secret.txt",  # a symlinked folder leading out
    ],
)
def test_refuses_paths_outside_the_reports_and_data_docs(server, path):
    status, body = _get(server, path)
    assert status == 404
    assert b"outside the home" not in body
    assert b"not for the browser" not in body


def test_is_read_only(server):
    assert _get(server, "/reports/2026-11-30/campaign_report.html", "PUT")[0] == 501
    assert _get(server, "/reports/2026-11-30/campaign_report.html", "DELETE")[0] == 501


def test_served_url_of_a_report_and_of_a_file_outside(home):
    path = home.reports_dir / "2026-11-30" / "campaign_report.html"
    assert served_url(path, home, 8788) == "http://127.0.0.1:8788/reports/2026-11-30/campaign_report.html"
    with pytest.raises(ValueError, match="not served"):
        served_url(home.warehouse_path, home, 8788)


def test_serve_port_setting():
    assert serve_port({}) == DEFAULT_SERVE_PORT == 8788
    assert serve_port({"CRM_SERVE_PORT": "9001"}) == 9001
    with pytest.raises(SettingsError, match="CRM_SERVE_PORT"):
        serve_port({"CRM_SERVE_PORT": "70000"})


def test_data_docs_link_in_check_metadata_is_the_served_url(home, monkeypatch):
    from orchestration.defs.quality import check_results
    from sources.quality.engine import ValidationReport

    monkeypatch.setenv("CRM_SERVE_PORT", "9123")
    page = home.data_docs_dir / "runs" / "lake_x" / "20261201T000000-000001.html"
    report = ValidationReport(target="lake_x", outcomes=[], docs_path=page)
    results = check_results(report, dg.AssetKey(["lake", "x"]), home)
    for r in results:
        assert r.metadata["data_docs_url"] == dg.MetadataValue.url(
            "http://127.0.0.1:9123/data_docs/runs/lake_x/20261201T000000-000001.html"
        )
        assert r.metadata["data_docs"] == dg.MetadataValue.path(str(page))


def test_cli_refuses_a_bad_port_setting(cli_env, monkeypatch):
    from click.testing import CliRunner

    from crmloop.cli import main

    monkeypatch.setenv("CRM_SERVE_PORT", "http")
    result = CliRunner().invoke(main, ["serve", "--home", str(cli_env / "home")])
    assert result.exit_code == 2
    assert "CRM_SERVE_PORT" in result.output


def test_campaign_report_metadata_links_the_served_report(tmp_path, monkeypatch):
    """reports/campaign_report of the run as of 2025-06-01 (it sends on 2025-06-02) links the report
    through `crmloop serve` on CRM_SERVE_PORT, and keeps its file path."""
    from orchestration.defs.activation import build_campaign_report
    from orchestration.defs.resources import CrmSettings

    home = tmp_path / "home"
    monkeypatch.setenv("CRM_HOME", str(home))
    monkeypatch.setenv("CRM_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("CRM_START_DATE", "2025-05-01")
    monkeypatch.setenv("CRM_SERVE_PORT", "9001")
    parts = dg.DailyPartitionsDefinition(start_date="2025-05-01", timezone="Asia/Bangkok")
    result = dg.materialize(
        [build_campaign_report(parts)],
        partition_key="2025-06-01",
        resources={"crm": CrmSettings()},
        instance=dg.DagsterInstance.ephemeral(),
    )
    md = result.get_asset_materialization_events()[0].materialization.metadata
    assert md["report_url"] == dg.MetadataValue.url(
        "http://127.0.0.1:9001/reports/2025-06-02/campaign_report.html"
    )
    assert md["report"] == dg.MetadataValue.path(
        str(home / "reports" / "2025-06-02" / "campaign_report.html")
    )
