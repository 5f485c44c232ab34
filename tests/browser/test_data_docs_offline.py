"""The GX Data Docs in Chromium through `crmloop serve`, with every request off the machine
refused: the pages are styled and their tables drawn from the local copies alone.
The screenshot is kept at artefacts/browser/data_docs/ (CRM_BROWSER_ARTEFACTS overrides)."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import pytest

from crmloop.serve import make_server
from crmloop.settings import Settings
from tests.browser.test_browser import _artefacts
from tests.quality.test_offline_docs import _build

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_data_docs_render_styled_offline(chromium_context, tmp_path):
    home = Settings(landing_dir=tmp_path / "landing", home=tmp_path / "home", as_of=None, start_date=None)
    _build(home.data_docs_dir)
    server = make_server(home, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    remote: list[str] = []

    def only_loopback(route):
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            return route.continue_()
        remote.append(route.request.url)
        return route.abort()

    page = chromium_context.new_page()
    try:
        page.route("**/*", only_loopback)
        port = server.server_address[1]
        page.goto(f"http://127.0.0.1:{port}/data_docs/index.html")
        page.locator("table.table tbody tr").first.wait_for(state="visible", timeout=20_000)
        page.screenshot(path=str(_artefacts("data_docs") / "index.png"), full_page=True)
        # Bootstrap's .table collapses borders; a browser's default table is `separate`
        assert page.eval_on_selector("table.table", "t => getComputedStyle(t).borderCollapse") == "collapse"
        assert page.evaluate("typeof jQuery.fn.bootstrapTable") == "function"
        assert page.evaluate("typeof vegaEmbed") == "function"
        assert "customers" in page.inner_text("table.table tbody")
        page.locator("table.table tbody td", has_text="crmloop-customers").first.click()  # the row links
        page.wait_for_url("**/validations/**", timeout=20_000)
        page.get_by_text("customer_id", exact=False).first.wait_for(timeout=20_000)
        page.screenshot(path=str(_artefacts("data_docs") / "validation.png"), full_page=True)
        assert remote == []
    finally:
        page.close()
        server.shutdown()
        server.server_close()
