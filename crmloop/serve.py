"""`crmloop serve`: the home's campaign reports and GX Data Docs over HTTP, read-only, on 127.0.0.1.

http://127.0.0.1:<CRM_SERVE_PORT>/ lists every campaign report by send date and links the data
docs; `/reports/...` and `/data_docs/...` are files of `<home>/reports` and `<home>/data_docs`,
nothing else of the home (warehouse, lake, ledgers) and nothing outside it: a path with `..`, a
path outside those two folders, or a symlink that leads out of them is a 404. Only GET and HEAD.
It listens on loopback only (the reports name customers).

Built on the standard library's http.server (static files, content types, directory pages, HEAD;
no dependency); ours are only the path guard and the index page, which are crmloop's own rules.
`served_url` is the one mapping of a home file to its URL (Dagster metadata uses it).
"""

from __future__ import annotations

import html
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from crmloop.settings import ISO_DAY, HomeLayout

HOST = "127.0.0.1"


def served_roots(layout: HomeLayout) -> dict[str, Path]:
    """URL prefix -> folder: the home's reports and data-docs folders, under their own names."""
    return {d.name: d for d in (layout.reports_dir, layout.data_docs_dir)}


def served_url(path: Path, layout: HomeLayout, port: int) -> str:
    """The http://127.0.0.1:<port>/... address of a file under the reports or data-docs folder."""
    path = Path(path).absolute()
    for prefix, root in served_roots(layout).items():
        root = root.absolute()
        if path.is_relative_to(root):
            rel = path.relative_to(root).as_posix()
            return f"http://{HOST}:{port}/{prefix}/{quote(rel)}"
    raise ValueError(f"{path} is not under {layout.reports_dir} or {layout.data_docs_dir}: not served")


def index_page(layout: HomeLayout) -> str:
    """The landing page: every campaign report by send date (newest first) and the data docs."""
    reports = sorted(
        (p for p in layout.reports_dir.glob("*/*.html") if ISO_DAY.match(p.parent.name)),
        key=lambda p: (p.parent.name, p.name),
        reverse=True,
    )
    rows = "".join(
        f"<li><a href='/reports/{quote(p.parent.name)}/{quote(p.name)}'>{html.escape(p.parent.name)}</a>"
        f" <small>{html.escape(p.name)}</small></li>"
        for p in reports
    )
    docs = []
    if (layout.data_docs_dir / "index.html").is_file():
        docs.append("<li><a href='/data_docs/index.html'>GX Data Docs: every validation result</a></li>")
    if (layout.data_docs_dir / "runs" / "index.html").is_file():
        docs.append("<li><a href='/data_docs/runs/index.html'>Quality runs: one page per check run</a></li>")
    none = "<p>None yet: run <code>crmloop run</code> (or <code>crmloop demo</code>).</p>"
    return (
        "<!doctype html><meta charset='utf-8'><title>crmloop reports</title>"
        "<style>body{font-family:sans-serif;margin:2em}li{margin:.3em 0}</style>"
        f"<h1>crmloop</h1><p>Home: <code>{html.escape(str(layout.home))}</code></p>"
        "<h2>Campaign reports by send date</h2>"
        + (f"<ul>{rows}</ul>" if rows else none)
        + "<h2>Data quality</h2>"
        + (f"<ul>{''.join(docs)}</ul>" if docs else none)
    )


class ReportsHandler(SimpleHTTPRequestHandler):
    """Static files of the served roots only; `/` is the index page."""

    layout: HomeLayout

    def __init__(self, *args, layout: HomeLayout, **kwargs):
        self.layout = layout
        super().__init__(*args, directory=str(layout.home), **kwargs)

    def target(self) -> Path | None:
        """The file a request path names, or None when it is not inside a served root."""
        parts = unquote(urlsplit(self.path).path).split("/")
        parts = [p for p in parts if p]
        roots = served_roots(self.layout)
        if not parts or parts[0] not in roots or any(p in ("..", ".") or "\\" in p for p in parts):
            return None
        root = roots[parts[0]].resolve()
        path = root.joinpath(*parts[1:]).resolve()  # follows symlinks: one leading out is refused
        return path if path.is_relative_to(root) else None

    def translate_path(self, path: str) -> str:
        target = self.target()
        return str(target) if target is not None else ""

    def send_head(self):
        if urlsplit(self.path).path == "/":
            body = index_page(self.layout).encode("utf-8")
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return BytesIO(body)
        if self.target() is None:
            self.send_error(HTTPStatus.NOT_FOUND, "not a report or data-docs file")
            return None
        return super().send_head()


def make_server(layout: HomeLayout, port: int) -> ThreadingHTTPServer:
    """The server bound to 127.0.0.1:`port` (0: any free port), not yet serving."""
    return ThreadingHTTPServer((HOST, port), partial(ReportsHandler, layout=layout))


def serve(layout: HomeLayout, port: int) -> None:
    server = make_server(layout, port)
    print(f"crmloop reports and data docs: http://{HOST}:{server.server_address[1]}/  (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
