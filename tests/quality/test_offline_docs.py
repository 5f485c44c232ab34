"""The GX Data Docs read offline: after a real GX build (as crmloop validates), no page loads a
script or stylesheet from the network, and every local file a page loads exists next to the site."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from sources.quality import offline_docs
from sources.quality.engine import Batch, Expect, validate

# every script src / stylesheet href / image src of a page
_REF = re.compile(r"""<(script|link|img)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""", re.IGNORECASE | re.DOTALL)


def _build(docs_dir: Path):
    frame = pd.DataFrame({"customer_id": ["a", "b", None], "points": [1, 2, 3]})
    spec = [
        Expect("id_not_null", "ERROR", "expect_column_values_to_not_be_null", {"column": "customer_id"}),
        Expect(
            "points_range", "WARN", "expect_column_values_to_be_between", {"column": "points", "min_value": 0}
        ),
    ]
    return validate([Batch("customers", frame, spec)], target="tiny", docs_dir=docs_dir)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    docs = tmp_path_factory.mktemp("docs") / "data_docs"
    report = _build(docs)
    assert report.docs_pages, "GX wrote no validation page"
    return docs


def _gx_pages(site: Path) -> list[Path]:
    pages = [p for p in site.rglob("*.html") if "runs" not in p.relative_to(site).parts]
    assert site / "index.html" in pages and any("validations" in p.parts for p in pages)
    return pages


def test_no_page_loads_anything_from_the_network(site: Path):
    for page in _gx_pages(site):
        remote = [
            url for _, url in _REF.findall(page.read_text()) if urlsplit(url).scheme or url.startswith("//")
        ]
        assert remote == [], f"{page.relative_to(site)} still loads {remote}"


def test_every_local_script_and_stylesheet_exists(site: Path):
    for page in _gx_pages(site):
        refs = [url for tag, url in _REF.findall(page.read_text()) if tag.lower() in ("script", "link")]
        assert len(refs) >= 10  # bootstrap, jquery, bootstrap-table, vega ... (GX's templates load 17)
        for url in refs:
            target = (page.parent / urlsplit(url).path).resolve()
            assert target.is_file(), f"{page.relative_to(site)} loads {url}, which is not there"
            assert target.is_relative_to(site.resolve())


def test_the_tables_scripts_are_the_packaged_ones(site: Path):
    """bootstrap-table (the tables are drawn by it) and jQuery come from their packages."""
    index = (site / "index.html").read_text()
    assert 'src="static/vendor/bootstrap-table/dist/bootstrap-table.min.js"' in index
    jquery = site / "static/vendor/jquery/jquery.min.js"
    assert "jQuery v3.7.1" in jquery.read_text()[:200]
    assert "integrity=" not in index  # GX's subresource hashes are for the CDN files


def test_a_missing_package_is_named_on_the_page_and_nothing_remote_is_left(tmp_path, monkeypatch):
    """Without the npm packages (no `npm ci`), vega and bootstrap-table are dropped and named in a
    banner at the top of the page; the page still loads nothing remote, and the PyPI ones load."""
    monkeypatch.setattr(offline_docs, "WEB_ASSETS_DIR", tmp_path / "no_node_modules")
    docs = tmp_path / "data_docs"
    _build(docs)
    text = (docs / "index.html").read_text()
    banner = text.split('class="crm-offline-missing"', 1)[1].split("</div>", 1)[0]
    for name in ("bootstrap-table", "vega", "vega-lite", "vega-embed", "npm ci"):
        assert name in banner
    assert [url for _, url in _REF.findall(text) if urlsplit(url).scheme] == []
    assert 'src="static/vendor/jquery/jquery.min.js"' in text
    assert not (docs / "static/vendor/vega").exists()
