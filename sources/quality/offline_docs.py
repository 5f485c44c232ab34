"""GX Data Docs that read offline: the CDN scripts and stylesheets of GX's page templates replaced
by local copies placed next to the site, at `<site>/static/vendor/<asset>/`.

The copies come from maintained packages installed with the project, never from files kept in
this repository:
- PyPI (pyproject.toml): XStatic-Bootstrap 4.5 (its `bootstrap.bundle` includes Popper, so GX's
  separate popper.js 1.12.9 tag is dropped), XStatic-jQuery 3.7.1, XStatic-Font-Awesome 6.2
  (GX asks for 6.6; the icons GX uses exist in both), XStatic-Bootstrap-Datepicker 1.4.
- npm (package.json / package-lock.json at the repository root, installed by `make install` with
  `npm ci`): bootstrap-table 1.19.1 with its filter-control extension, vega 5, vega-lite 5,
  vega-embed 6 and @forevolve/bootstrap-dark 1.1.0, which no PyPI package ships.

An asset whose package is not installed is dropped from the page and named in a banner at the top
of it, so the page says what is missing (tables need bootstrap-table; only the charts need vega)
instead of waiting on a CDN that cannot be reached.

    from sources.quality.offline_docs import make_offline
    make_offline(site_dir)              # every page of the site
    make_offline(site_dir, [page, ...]) # only these pages (the ones a build wrote)
"""

from __future__ import annotations

import html
import importlib
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from crmloop.settings import WEB_ASSETS_DIR

VENDOR = Path("static") / "vendor"
# GX's logo comes from an S3 bucket; the same image is in the site's own static/images/
_GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"


@dataclass(frozen=True)
class Asset:
    """Where one CDN file comes from: `package` is an XStatic module (`xstatic.pkg.<name>`) when
    `npm` is False, else an npm package under WEB_ASSETS_DIR; `file` is the file the page loads,
    `copy` the files or folders it needs beside it (relative to the package's data folder)."""

    name: str
    package: str
    file: str
    npm: bool = False
    copy: tuple[str, ...] = ()

    def source_dir(self) -> Path | None:
        if self.npm:
            base = WEB_ASSETS_DIR / self.package
            return base if base.is_dir() else None
        try:
            module = importlib.import_module(f"xstatic.pkg.{self.package}")
        except ImportError:
            return None
        return Path(module.BASE_DIR)

    @property
    def label(self) -> str:
        where = "npm ci" if self.npm else "pip"
        return f"{self.name} ({'npm' if self.npm else 'PyPI'} package {self._dist}; install with {where})"

    @property
    def _dist(self) -> str:
        return self.package if self.npm else "XStatic-" + self.package.replace("_", "-").title()


_BOOTSTRAP = Asset("bootstrap", "bootstrap", "css/bootstrap.min.css")
_BOOTSTRAP_JS = Asset("bootstrap", "bootstrap", "js/bootstrap.bundle.min.js")
_TABLE = "dist/extensions/filter-control/"

# every CDN URL of GX 1.x's page templates (render/view/templates/*.j2); None: not needed (Popper is
# inside bootstrap.bundle). A URL not listed here stays in the page, and the tests find it.
CDN_ASSETS: dict[str, Asset | None] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": _BOOTSTRAP,
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": _BOOTSTRAP_JS,
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": None,
    "https://code.jquery.com/jquery-3.7.1.min.js": Asset("jquery", "jquery", "jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": Asset(
        "font-awesome", "font_awesome", "css/all.min.css", copy=("webfonts",)
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": Asset(
        "bootstrap-datepicker", "bootstrap_datepicker", "datepicker.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": Asset(
        "bootstrap-datepicker", "bootstrap_datepicker", "bootstrap-datepicker.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": Asset(
        "bootstrap-table", "bootstrap-table", "dist/bootstrap-table.min.css", npm=True
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": Asset(
        "bootstrap-table", "bootstrap-table", "dist/bootstrap-table.min.js", npm=True
    ),
    f"https://unpkg.com/bootstrap-table@1.19.1/{_TABLE}bootstrap-table-filter-control.min.js": Asset(
        "bootstrap-table", "bootstrap-table", f"{_TABLE}bootstrap-table-filter-control.min.js", npm=True
    ),
    f"https://unpkg.com/bootstrap-table@1.19.0/{_TABLE}bootstrap-table-filter-control.css": Asset(
        "bootstrap-table", "bootstrap-table", f"{_TABLE}bootstrap-table-filter-control.css", npm=True
    ),
    f"https://unpkg.com/bootstrap-table@1.19.0/{_TABLE}bootstrap-table-filter-control.min.css": Asset(
        "bootstrap-table", "bootstrap-table", f"{_TABLE}bootstrap-table-filter-control.min.css", npm=True
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": Asset(
        "bootstrap-dark", "@forevolve/bootstrap-dark", "dist/css/bootstrap-prefers-dark.css", npm=True
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": Asset("vega", "vega", "build/vega.min.js", npm=True),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": Asset(
        "vega-lite", "vega-lite", "build/vega-lite.min.js", npm=True
    ),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": Asset(
        "vega-embed", "vega-embed", "build/vega-embed.min.js", npm=True
    ),
}

# a <script src=...></script> or a <link href=...> whose address is absolute (http, https or //)
_TAG = re.compile(
    r"""<(?P<tag>script|link)\b(?P<attrs>[^>]*?)\b(?:src|href)=["'](?P<url>(?:https?:)?//[^"']+)["'](?P<rest>[^>]*)>"""
    r"""(?P<close>\s*</script>)?""",
    re.IGNORECASE,
)
_LOCAL_IMAGE = re.compile(r"""((?:src|href)=["'])(?:\./|(?:\.\./)+)?static/images/""")
_SRI = re.compile(r"""\s(?:integrity|crossorigin)=["'][^"']*["']""", re.IGNORECASE)
_BANNER_CLASS = "crm-offline-missing"


def vendor_files(site_dir: Path) -> dict[Asset, Path | None]:
    """Copy every asset's files into `<site>/static/vendor/<name>/`; the local file of each asset,
    None for an asset whose package is not installed."""
    out: dict[Asset, Path | None] = {}
    for asset in {a for a in CDN_ASSETS.values() if a is not None}:
        src = asset.source_dir()
        if src is None or not (src / asset.file).is_file():
            out[asset] = None
            continue
        dest = site_dir / VENDOR / asset.name
        for rel in (asset.file, *asset.copy):
            files = (
                [src / rel]
                if (src / rel).is_file()
                else sorted(f for f in (src / rel).rglob("*") if f.is_file())
            )
            for s in files:  # copied once per site (again only when the package's file changed size)
                d = dest / s.relative_to(src)
                if not d.exists() or d.stat().st_size != s.stat().st_size:
                    d.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(s, d)
        out[asset] = dest / asset.file
    return out


def rewrite_page(text: str, page: Path, site_dir: Path, local: dict[Asset, Path | None]) -> str:
    """One page's CDN tags pointed at the local copies (relative to the page); missing ones dropped
    and named in a banner."""
    missing: list[str] = []

    def swap(m: re.Match) -> str:
        url = m.group("url")
        if url not in CDN_ASSETS:
            return m.group(0)
        asset = CDN_ASSETS[url]
        path = local.get(asset) if asset is not None else None
        if path is None:
            if asset is not None and asset.label not in missing:
                missing.append(asset.label)
            return ""
        rel = Path(os.path.relpath(path, page.parent)).as_posix()
        attr = "src" if m.group("tag").lower() == "script" else "href"
        attrs = _SRI.sub("", m.group("attrs"))
        rest = _SRI.sub("", m.group("rest"))
        return f'<{m.group("tag")}{attrs}{attr}="{rel}"{rest}>{m.group("close") or ""}'

    text = _TAG.sub(swap, text)
    images = Path(os.path.relpath(site_dir / "static" / "images", page.parent)).as_posix() + "/"
    text = text.replace(_GX_IMAGES, images)
    # GX's favicon link of a validation page climbs one folder too few (favicon.j2): point it right
    text = _LOCAL_IMAGE.sub(lambda m: m.group(1) + images, text)
    if missing and _BANNER_CLASS not in text:
        banner = (
            f'<div class="{_BANNER_CLASS}" style="background:#fff3cd;color:#664d03;padding:8px 16px;'
            'border-bottom:1px solid #ffe69c;font-family:sans-serif">Shown without '
            + "; ".join(html.escape(x) for x in missing)
            + ": run <code>make install</code> in the crmloop checkout, then rebuild these pages.</div>"
        )
        text = re.sub(r"(<body[^>]*>)", lambda b: b.group(1) + banner, text, count=1)
    return text


def make_offline(site_dir: Path, pages: Iterable[Path] | None = None) -> list[Path]:
    """Point the pages of a GX site (default: every *.html under it) at local copies of their
    scripts and stylesheets; returns the pages rewritten."""
    site_dir = Path(site_dir)
    local = vendor_files(site_dir)
    todo = sorted(site_dir.rglob("*.html")) if pages is None else [Path(p) for p in pages]
    done = []
    for page in todo:
        if not page.is_file():
            continue
        text = page.read_text(encoding="utf-8")
        new = rewrite_page(text, page, site_dir, local)
        if new != text:
            page.write_text(new, encoding="utf-8")
            done.append(page)
    return done
