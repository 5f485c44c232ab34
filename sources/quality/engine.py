"""Run expectation specs through great-expectations 1.x on in-memory pandas batches.

Each `Expect` is a plain, serialisable spec (GX expectation type + kwargs + our name and
severity). `validate()` builds an ephemeral GX context, one pandas dataframe asset per
`Batch`, runs every suite, writes GX Data Docs (HTML) into a filesystem site under
`docs_dir` and returns a `ValidationReport` that says, per expectation, what failed.

GX is imported lazily (it takes seconds), so importing this module stays cheap.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

ERROR = "ERROR"
WARN = "WARN"
SEVERITIES = (ERROR, WARN)
MAX_SAMPLES = 10

_GX_SEVERITY = {ERROR: "critical", WARN: "warning"}


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


@dataclass(frozen=True)
class Expect:
    """One expectation: `type` is the GX snake-case name (e.g. expect_column_values_to_not_be_null)."""

    name: str
    severity: str
    type: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    # a share gate: the tolerated share of bad values; `kwargs["mostly"]` is then set from it and
    # the number of values judged (see sources.quality.suites.judge_shares)
    max_share: float | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"expectation {self.name!r}: severity must be ERROR or WARN, not {self.severity!r}"
            )

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def columns(self) -> list[str]:
        """Every data column this expectation reads (used to read only what is needed)."""
        cols: list[str] = []
        for key in ("column", "column_A", "column_B"):
            if self.kwargs.get(key):
                cols.append(self.kwargs[key])
        cols += list(self.kwargs.get("column_list") or [])
        cond = self.kwargs.get("row_condition")
        if isinstance(cond, str):
            cols += re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*[=!<>]=?", cond)
        return cols

    def config(self) -> dict[str, Any]:
        """JSON-able description of the expectation (for metadata and reports)."""
        out = {"type": self.type, "kwargs": _jsonable(self.kwargs), "severity": self.severity}
        if self.description:
            out["description"] = self.description
        if self.max_share is not None:
            out["max_share"] = self.max_share
        return out

    def to_gx(self):
        import great_expectations.expectations as gxe

        cls = getattr(gxe, _camel(self.type), None)
        if cls is None:
            raise ValueError(f"expectation {self.name!r}: unknown GX expectation type {self.type!r}")
        kwargs = dict(self.kwargs)
        if "row_condition" in kwargs:
            kwargs["row_condition"] = _row_condition(self.name, kwargs["row_condition"])
        return cls(
            **kwargs,
            severity=_GX_SEVERITY[self.severity],
            meta={"crm_name": self.name, "crm_severity": self.severity},
            description=self.description or None,
        )


_CONDITION = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*==\s*(True|False|'[^']*'|\"[^\"]*\"|-?\d+(?:\.\d+)?)\s*$"
)


def _row_condition(name: str, text: str):
    """`column==value` (value: True, False, a quoted string or a number) as a GX Condition object."""
    import ast

    from great_expectations.expectations.row_conditions import Column

    m = _CONDITION.match(text)
    if not m:
        raise ValueError(f"expectation {name!r}: row_condition {text!r} must be `column==value`")
    return Column(m.group(1)) == ast.literal_eval(m.group(2))


@dataclass
class Batch:
    """One suite over one in-memory frame. `name` becomes the GX suite/asset name."""

    name: str
    frame: pd.DataFrame
    expectations: list[Expect]
    notes: dict[str, str] = field(default_factory=dict)  # expectation name -> note shown in reports


@dataclass
class ExpectationOutcome:
    suite: str
    name: str
    severity: str
    passed: bool
    unexpected_count: int | None
    unexpected_percent: float | None
    sample_bad_values: list[Any]
    observed_value: Any
    config: dict[str, Any]
    exception: str | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "name": self.name,
            "severity": self.severity,
            "passed": self.passed,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": self.unexpected_percent,
            "sample_bad_values": self.sample_bad_values,
            "observed_value": _jsonable(self.observed_value),
            "config": self.config,
            "exception": self.exception,
            "note": self.note,
        }


@dataclass
class ValidationReport:
    target: str
    outcomes: list[ExpectationOutcome]
    docs_path: Path | None
    docs_pages: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def failures(self, severity: str | None = None) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.passed and (severity is None or o.severity == severity)]

    def passed(self, severity: str = ERROR) -> bool:
        """True when no expectation of `severity` failed."""
        return not self.failures(severity)

    @property
    def ok(self) -> bool:
        return not self.failures()

    def outcome(self, name: str) -> ExpectationOutcome:
        for o in self.outcomes:
            if o.name == name:
                return o
        raise KeyError(
            f"{self.target}: no expectation named {name!r}; have {[o.name for o in self.outcomes]}"
        )

    def outcome_in(self, suite: str, name: str) -> ExpectationOutcome:
        for o in self.outcomes:
            if o.suite == suite and o.name == name:
                return o
        raise KeyError(f"{self.target}: no expectation {name!r} in suite {suite!r}")

    def summary(self, severity: str | None = None) -> str:
        fails = self.failures(severity)
        checked = [o for o in self.outcomes if severity is None or o.severity == severity]
        if not fails:
            return f"{self.target}: all {len(checked)} expectations passed"
        parts = []
        for o in fails:
            what = o.exception or (
                f"{o.unexpected_count} unexpected ({o.unexpected_percent:.2f}%)"
                if o.unexpected_count is not None and o.unexpected_percent is not None
                else f"observed {o.observed_value!r}"
            )
            parts.append(f"{o.name} [{o.severity}] in {o.suite}: {what}")  # which audience, which source
        return f"{self.target}: {len(fails)} of {len(checked)} failed: " + "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "passed_error": self.passed(ERROR),
            "passed_warn": self.passed(WARN),
            "docs_path": str(self.docs_path) if self.docs_path else None,
            "outcomes": [o.as_dict() for o in self.outcomes],
            "seconds": round(self.seconds, 3),
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        try:
            return value.isoformat()
        except (TypeError, ValueError):
            pass
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    return str(value)


def _outcome(suite: str, spec: Expect, gx_result, note: str | None) -> ExpectationOutcome:
    result = dict(gx_result.result or {})
    exc = None
    info = gx_result.exception_info or {}
    if isinstance(info, dict) and info.get("raised_exception"):
        exc = str(info.get("exception_message") or "exception while evaluating")
    samples: list[Any] = []
    counts = result.get("partial_unexpected_counts")
    if counts:
        samples = [_jsonable(c.get("value")) for c in counts][:MAX_SAMPLES]
    elif result.get("partial_unexpected_list"):
        seen: list[Any] = []
        for v in result["partial_unexpected_list"]:
            v = _jsonable(v)
            if v not in seen:
                seen.append(v)
        samples = seen[:MAX_SAMPLES]
    pct = result.get("unexpected_percent")
    return ExpectationOutcome(
        suite=suite,
        name=spec.name,
        severity=spec.severity,
        passed=bool(gx_result.success),
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=None if pct is None else float(pct),
        sample_bad_values=samples,
        observed_value=_jsonable(result.get("observed_value")),
        config=spec.config(),
        exception=exc,
        note=note,
    )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def validate(
    batches: Iterable[Batch],
    *,
    target: str,
    docs_dir: Path | None,
    progress: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Validate every batch with GX; write Data Docs under `docs_dir` (None: no docs)."""
    started = time.perf_counter()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    batches = list(batches)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    for site in list(ctx.get_site_names()):
        ctx.delete_data_docs_site(site)
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        ctx.add_data_docs_site(
            site_name="crmloop",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    datasource = ctx.data_sources.add_pandas(name="crmloop")
    outcomes: list[ExpectationOutcome] = []
    identifiers = []
    for batch in batches:
        if progress:
            progress(
                f"{target}: validating {batch.name} ({len(batch.frame)} rows, {len(batch.expectations)} expectations)"
            )
        suite_name = _safe(batch.name)
        asset = datasource.add_dataframe_asset(name=suite_name)
        batch_def = asset.add_batch_definition_whole_dataframe(name="batch")
        suite = ctx.suites.add(gx.ExpectationSuite(name=suite_name))
        for spec in batch.expectations:
            suite.add_expectation(spec.to_gx())
        vd = ctx.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name, data=batch_def, suite=suite)
        )
        res = vd.run(
            batch_parameters={"dataframe": batch.frame},
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": MAX_SAMPLES},
        )
        by_name = {spec.name: spec for spec in batch.expectations}
        for r in res.results:
            name = (r.expectation_config.meta or {}).get("crm_name")
            spec = by_name[name]
            outcomes.append(_outcome(batch.name, spec, r, batch.notes.get(name)))
    docs_path = None
    pages: list[Path] = []
    if docs_dir is not None:
        identifiers = list(ctx.validation_results_store.list_keys())
        ctx.build_data_docs(site_names=["crmloop"], resource_identifiers=identifiers)
        for ident in identifiers:
            for site in ctx.get_docs_sites_urls(resource_identifier=ident, site_name="crmloop"):
                url = site.get("site_url") or ""
                if url.startswith("file://"):
                    pages.append(Path(url[len("file://") :]))
        from sources.quality.offline_docs import make_offline

        make_offline(docs_dir, [docs_dir / "index.html", *pages])  # no CDN: the pages read offline
        docs_path = _write_run_index(docs_dir, target, outcomes, pages)
    # keep the declared order of expectations (GX groups table-level first)
    order = {(b.name, e.name): i for i, (b, e) in enumerate((b, e) for b in batches for e in b.expectations)}
    outcomes.sort(key=lambda o: order.get((o.suite, o.name), 0))
    return ValidationReport(
        target=target,
        outcomes=outcomes,
        docs_path=docs_path,
        docs_pages=pages,
        seconds=time.perf_counter() - started,
    )


def _write_run_index(
    docs_dir: Path, target: str, outcomes: list[ExpectationOutcome], pages: list[Path]
) -> Path:
    """A small landing page for one validation run that links the GX Data Docs pages it produced."""
    import html

    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    out = docs_dir / "runs" / _safe(target) / f"{stamp}-{time.perf_counter_ns() % 1_000_000:06d}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for o in outcomes:
        status = "passed" if o.passed else "FAILED"
        rows.append(
            "<tr class='{cls}'><td>{suite}</td><td>{name}</td><td>{sev}</td><td>{status}</td><td>{cnt}</td>"
            "<td>{pct}</td><td>{samples}</td></tr>".format(
                cls="ok" if o.passed else "bad",
                suite=html.escape(o.suite),
                name=html.escape(o.name),
                sev=o.severity,
                status=status,
                cnt="" if o.unexpected_count is None else o.unexpected_count,
                pct="" if o.unexpected_percent is None else f"{o.unexpected_percent:.2f}%",
                samples=html.escape(", ".join(map(str, o.sample_bad_values)) or (o.exception or "")),
            )
        )
    links = "".join(
        f"<li><a href='{html.escape(Path('../..', p.relative_to(docs_dir)).as_posix())}'>{html.escape(p.name)}</a></li>"
        for p in pages
        if p.is_relative_to(docs_dir)
    )
    out.write_text(
        "<!doctype html><meta charset='utf-8'><title>crmloop data quality: {t}</title>"
        "<style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}"
        ".bad{{background:#fde2e2}}</style><h1>{t}</h1><p>GX Data Docs pages of this run:</p><ul>{links}</ul>"
        "<table><tr><th>suite</th><th>expectation</th><th>severity</th><th>status</th><th>unexpected</th>"
        "<th>%</th><th>sample bad values</th></tr>{rows}</table>".format(
            t=html.escape(target), links=links, rows="".join(rows)
        ),
        encoding="utf-8",
    )
    _write_runs_index(docs_dir)
    return out


def _write_runs_index(docs_dir: Path, limit: int = 1000) -> None:
    """`<docs_dir>/runs/index.html`: every run page, newest first (GX's own index.html lists only
    the validations of the latest run, since each run uses a fresh ephemeral context)."""
    import html
    import os

    runs = docs_dir / "runs"
    pages = sorted(
        (p for p in runs.glob("*/*.html") if p.name != "index.html"),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )[:limit]
    items = "".join(
        f"<li><a href='{html.escape(p.relative_to(runs).as_posix())}'>{html.escape(p.parent.name)}</a> "
        f"{html.escape(p.stem)}</li>"
        for p in pages
    )
    tmp = runs / f".index-{os.getpid()}.tmp"
    tmp.write_text(
        f"<!doctype html><meta charset='utf-8'><title>crmloop data-quality runs</title>"
        f"<h1>Data-quality runs</h1><p><a href='../index.html'>GX Data Docs</a></p><ul>{items}</ul>",
        encoding="utf-8",
    )
    os.replace(tmp, runs / "index.html")
