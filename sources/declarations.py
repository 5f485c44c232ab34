"""Source declarations: one small YAML per source in sources/declarations/<source>.yml.

Loaded and validated at run time; every error names the file and the field
(`customers.yml: columns.gender.values: ...`). The fields are documented in sources/README.md.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from crmloop.settings import SettingsError, extra_declaration_dirs
from sources.normalise import NORMALISERS, enum_key
from sources.schema import DERIVED_SUFFIXES, ENTITY_COLUMNS, NULLED_FIELDS, key_columns, nulls_bad_fields

DECLARATIONS_DIR = Path(__file__).resolve().parent / "declarations"
FORMATS = ("csv", "xlsx", "jsonl", "parquet")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = {
    "source",
    "entity",
    "description",
    "formats",
    "source_system",
    "region",
    "csv",
    "xlsx",
    "columns",
    "quality",
    "produced_by",
    "replaces_parts_of",
}
# Steps of the pipeline that write a declared entity themselves, as landing-style files in their
# own folder (not the landing zone), ingested like every source (`produced_by: <step>`).
PRODUCERS = ("campaign_state",)
_COL_KEYS = {
    "from",
    "normaliser",
    "required",
    "default",
    "values",
    "on_invalid",
    "min",
    "max",
    "region",
    "description",
}
_CSV_KEYS = {"delimiter", "encoding"}
_XLSX_KEYS = {"sheet", "header_row"}
# everything else quarantines the row, except the non-key columns of an entity that nulls and
# flags bad fields (sources.schema.NULLED_FIELDS): there a bad value is null and listed
_DEFAULT_ON_INVALID = {"phone": "null", "email": "null"}


class DeclarationError(ValueError):
    """A source declaration is malformed; the message names the file and the field."""


def header_key(name: Any) -> str:
    """How a file header is compared with declared names: NFC, case-folded, trimmed, with runs of
    spaces, `_`, `-` and `.` treated as one `_` (so `E-mail`, `e_mail`, `E Mail` are equal)."""
    s = unicodedata.normalize("NFC", str(name)).replace("\ufeff", "").strip().casefold()
    return re.sub(r"[\s_\-.]+", "_", s).strip("_")


@dataclass(frozen=True)
class ColumnSpec:
    name: str  # canonical column
    normaliser: str
    aliases: tuple[str, ...]  # header_key() forms, canonical name included
    required: bool = False
    default: str | None = None
    values: dict[str, str | None] | None = None  # enum: enum_key(word) -> canonical value or None
    on_invalid: str = "quarantine"  # or "null": keep the row, value null
    min: float | None = None
    max: float | None = None
    region: str = "TH"


@dataclass(frozen=True)
class SourceDeclaration:
    name: str
    entity: str
    path: Path
    formats: tuple[str, ...]
    columns: dict[str, ColumnSpec]
    source_system: str | None = None
    description: str = ""
    csv_delimiter: str | None = None  # None = sniffed from the header line
    csv_encoding: str = "auto"
    xlsx_sheet: str | int | None = None  # None = first sheet
    xlsx_header_row: int = 1
    quality: dict = field(default_factory=dict)  # overrides of QualityThresholds for this source
    produced_by: str | None = None  # a step of PRODUCERS: the run's own output, not a delivery
    # earlier writers' part-file names in this entity's lake partitions (`<name>-NNNN.parquet`),
    # replaced by this source's commit as its own are (an upgrade never counts a row twice)
    replaces_parts_of: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def required_columns(self) -> list[str]:
        return [c for c, s in self.columns.items() if s.required and s.default is None]


def _parse_quality(path: Path, spec: Any) -> dict:
    """`quality:` overrides the data-quality thresholds (crmloop.settings.QualityThresholds) for
    this source only, e.g. a POS export where a third of customers give no email."""
    from dataclasses import fields

    from crmloop.settings import QualityThresholds

    if spec is None:
        return {}
    known = {f.name: f.type for f in fields(QualityThresholds)}
    if not isinstance(spec, dict):
        raise _err(path, "quality", f"must be a mapping of thresholds ({', '.join(sorted(known))})")
    out = {}
    for k, v in spec.items():
        if k not in known:
            raise _err(path, f"quality.{k}", f"unknown threshold (known: {', '.join(sorted(known))})")
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _err(path, f"quality.{k}", f"must be a number, got {v!r}")
        out[k] = int(v) if known[k] in (int, "int") else float(v)
    return out


def _err(path: Path, where: str, msg: str) -> DeclarationError:
    return DeclarationError(f"{path.name}: {where}: {msg}")


def _to_float(path: Path, where: str, v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise _err(path, where, f"must be a number or a date, got {v!r}")
    if isinstance(v, str):
        raise _err(path, where, f"must be a number, got {v!r}")
    return float(v)


def _parse_column(path: Path, entity: str, col: str, spec: Any, region: str) -> ColumnSpec:
    where = f"columns.{col}"
    types = dict(ENTITY_COLUMNS[entity])
    if col not in types:
        raise _err(path, where, f"not a column of entity {entity!r} (columns: {', '.join(types)})")
    for base, suffixes in DERIVED_SUFFIXES.items():
        for suf in suffixes:
            if col.endswith(suf) and col[: -len(suf)] in types and col != base:
                raise _err(
                    path,
                    where,
                    f"is derived by the {base!r} normaliser of {col[: -len(suf)]!r}; map that column instead",
                )
    if col == NULLED_FIELDS:
        raise _err(path, where, "is filled by ingestion (the fields it nulled), not mapped from a file")
    if spec is None:
        spec = {}
    if isinstance(spec, str | list):
        spec = {"from": spec}
    if not isinstance(spec, dict):
        raise _err(path, where, f"must be a mapping, got {type(spec).__name__}")
    unknown = set(spec) - _COL_KEYS
    if unknown:
        raise _err(
            path, f"{where}.{sorted(unknown)[0]}", f"unknown field (allowed: {', '.join(sorted(_COL_KEYS))})"
        )

    lake_type = types[col]
    norm = spec.get("normaliser")
    if norm is None:
        norm = {
            pa.date32(): "date",
            pa.timestamp("us"): "timestamp",
            pa.float64(): "amount",
            pa.int64(): "int",
            pa.bool_(): "bool",
        }.get(lake_type, "text")
    if norm not in NORMALISERS:
        raise _err(
            path, f"{where}.normaliser", f"unknown normaliser {norm!r} (known: {', '.join(NORMALISERS)})"
        )
    if NORMALISERS[norm] != lake_type:
        raise _err(
            path,
            f"{where}.normaliser",
            f"{norm!r} produces {NORMALISERS[norm]} but {entity}.{col} is {lake_type}",
        )

    aliases_raw = spec.get("from", [])
    if isinstance(aliases_raw, str):
        aliases_raw = [aliases_raw]
    if not isinstance(aliases_raw, list) or not all(isinstance(a, str | int) for a in aliases_raw):
        raise _err(path, f"{where}.from", "must be a header name or a list of header names")
    aliases = tuple(dict.fromkeys([header_key(col)] + [header_key(a) for a in aliases_raw]))

    values = None
    if norm == "enum":
        raw_values = spec.get("values")
        if raw_values is None:
            raise _err(
                path,
                f"{where}.values",
                "an enum needs `values` (a list of allowed values or a map word: value)",
            )
        if isinstance(raw_values, list):
            raw_values = {v: v for v in raw_values}
        if not isinstance(raw_values, dict) or not raw_values:
            raise _err(path, f"{where}.values", "must be a non-empty list or mapping")
        values = {}
        for k, v in raw_values.items():
            if v is not None and not isinstance(v, str):
                raise _err(path, f"{where}.values.{k}", f"must map to a string or null, got {v!r}")
            values[enum_key(k)] = v
        for v in {v for v in raw_values.values() if v is not None}:  # canonical values map to themselves
            values.setdefault(enum_key(v), v)
    elif "values" in spec:
        raise _err(path, f"{where}.values", f"only an enum has values (normaliser is {norm!r})")

    is_key = col in key_columns(entity)
    fallback = "null" if nulls_bad_fields(entity) and not is_key else "quarantine"
    on_invalid = spec.get("on_invalid", _DEFAULT_ON_INVALID.get(norm, fallback))
    if on_invalid not in ("quarantine", "null"):
        raise _err(path, f"{where}.on_invalid", f"must be 'quarantine' or 'null', got {on_invalid!r}")
    if is_key and on_invalid == "null":
        raise _err(
            path, f"{where}.on_invalid", f"{col} is a key of {entity}: a bad value quarantines the row"
        )
    required = spec.get("required", False)
    if not isinstance(required, bool):
        raise _err(path, f"{where}.required", f"must be true or false, got {required!r}")
    default = spec.get("default")
    if default is not None and not isinstance(default, str | int | float):
        raise _err(path, f"{where}.default", f"must be a scalar, got {default!r}")
    mn = _to_float(path, f"{where}.min", spec.get("min"))
    mx = _to_float(path, f"{where}.max", spec.get("max"))
    if (mn is not None or mx is not None) and norm not in ("amount", "int"):
        raise _err(path, f"{where}.min", f"min/max apply to amount and int columns, not {norm!r}")
    col_region = spec.get("region", region)
    return ColumnSpec(
        name=col,
        normaliser=norm,
        aliases=aliases,
        required=required,
        default=None if default is None else str(default),
        values=values,
        on_invalid=on_invalid,
        min=mn,
        max=mx,
        region=str(col_region),
    )


def top_level_problem(data: Any, allowed: set[str]) -> tuple[str, str] | None:
    """(where, what) is wrong with a YAML file's top level: not a mapping, or a field not in
    `allowed`; None when fine. For every configuration file read like the declarations."""
    if not isinstance(data, dict):
        return "top level", "must be a mapping"
    unknown = set(data) - allowed
    if unknown:
        return sorted(unknown)[0], f"unknown field (allowed: {', '.join(sorted(allowed))})"
    return None


def parse_declaration(path: Path, data: Any) -> SourceDeclaration:
    path = Path(path)
    if problem := top_level_problem(data, _TOP_KEYS):
        raise _err(path, *problem)
    name = data.get("source", path.stem)
    if name != path.stem:
        raise _err(path, "source", f"{name!r} must equal the file name {path.stem!r}")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _err(path, "source", f"{name!r} must be lower-case letters, digits and _")
    entity = data.get("entity")
    if entity not in ENTITY_COLUMNS:
        raise _err(
            path, "entity", f"{entity!r} is not an entity (known: {', '.join(sorted(ENTITY_COLUMNS))})"
        )
    formats = data.get("formats", list(FORMATS))
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, list) or not formats or any(f not in FORMATS for f in formats):
        raise _err(
            path, "formats", f"must be a non-empty list drawn from {', '.join(FORMATS)}, got {formats!r}"
        )
    produced_by = data.get("produced_by")
    if produced_by is not None and produced_by not in PRODUCERS:
        raise _err(
            path, "produced_by", f"{produced_by!r} is no step that writes an entity ({', '.join(PRODUCERS)})"
        )
    replaces = data.get("replaces_parts_of", [])
    if not isinstance(replaces, list) or not all(
        isinstance(r, str) and re.fullmatch(r"[a-z_]+", r) for r in replaces
    ):
        raise _err(
            path, "replaces_parts_of", f"must be a list of part-file names (lowercase, _), got {replaces!r}"
        )
    region = str(data.get("region", "TH"))
    source_system = data.get("source_system")
    if source_system is not None and not isinstance(source_system, str):
        raise _err(path, "source_system", f"must be a string, got {source_system!r}")
    cols_raw = data.get("columns")
    if not isinstance(cols_raw, dict) or not cols_raw:
        raise _err(path, "columns", "must be a non-empty mapping of canonical column -> spec")
    columns = {c: _parse_column(path, entity, c, s, region) for c, s in cols_raw.items()}
    types = dict(ENTITY_COLUMNS[entity])
    if source_system is not None and "source_system" in types:
        sc = columns.get("source_system")
        if sc is None:
            columns["source_system"] = ColumnSpec(
                "source_system", "id", ("source_system",), default=source_system
            )
        elif sc.default is None:
            columns["source_system"] = ColumnSpec(**{**sc.__dict__, "default": source_system})
    # one header may feed only one column
    seen: dict[str, str] = {}
    for c, s in columns.items():
        for a in s.aliases:
            if a in seen and seen[a] != c:
                raise _err(path, f"columns.{c}.from", f"header {a!r} is already mapped to {seen[a]!r}")
            seen[a] = c

    csv_opts = data.get("csv") or {}
    if not isinstance(csv_opts, dict) or set(csv_opts) - _CSV_KEYS:
        raise _err(path, "csv", f"must be a mapping with {', '.join(sorted(_CSV_KEYS))}")
    delimiter = csv_opts.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise _err(path, "csv.delimiter", f"must be one character, got {delimiter!r}")
    encoding = csv_opts.get("encoding", "auto")
    if encoding != "auto":
        import codecs

        try:
            codecs.lookup(encoding)
        except (LookupError, TypeError):
            raise _err(path, "csv.encoding", f"unknown encoding {encoding!r}") from None
    xlsx_opts = data.get("xlsx") or {}
    if not isinstance(xlsx_opts, dict) or set(xlsx_opts) - _XLSX_KEYS:
        raise _err(path, "xlsx", f"must be a mapping with {', '.join(sorted(_XLSX_KEYS))}")
    header_row = xlsx_opts.get("header_row", 1)
    if not isinstance(header_row, int) or header_row < 1:
        raise _err(path, "xlsx.header_row", f"must be a positive integer, got {header_row!r}")
    sheet = xlsx_opts.get("sheet")
    if sheet is not None and not isinstance(sheet, str | int):
        raise _err(path, "xlsx.sheet", f"must be a sheet name or 0-based index, got {sheet!r}")
    return SourceDeclaration(
        name=name,
        entity=entity,
        path=path,
        formats=tuple(formats),
        columns=columns,
        source_system=source_system,
        description=str(data.get("description", "")),
        csv_delimiter=delimiter,
        csv_encoding=encoding,
        xlsx_sheet=sheet,
        xlsx_header_row=header_row,
        quality=_parse_quality(path, data.get("quality")),
        produced_by=produced_by,
        replaces_parts_of=tuple(replaces),
        raw=data,
    )


def load_declaration(path: Path) -> SourceDeclaration:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DeclarationError(f"{path.name}: not valid YAML: {exc}") from None
    return parse_declaration(path, data)


def declaration_dirs() -> list[Path]:
    """The built-in declarations, then each folder of `CRM_SOURCES_DIR` (os.pathsep-separated)."""
    try:
        extra = extra_declaration_dirs()
    except SettingsError as exc:
        raise DeclarationError(str(exc)) from None
    return [DECLARATIONS_DIR, *extra]


def load_declarations(
    directory: Path | str | None = None, *, include_produced: bool = False
) -> dict[str, SourceDeclaration]:
    """Every `*.yml` / `*.yaml` in `directory`, by source name; by default the built-in ones
    (sources/declarations/) and the user's own in `CRM_SOURCES_DIR`. A source declared twice (in
    one folder or across folders) is an error naming both files.

    Only the sources delivered to the landing zone, unless `include_produced`: then also those a
    step of the pipeline writes itself (`produced_by`, e.g. campaign_sends), which are ingested by
    that step from its own folder (`produced_declarations`)."""
    dirs = [Path(directory)] if directory is not None else declaration_dirs()
    out: dict[str, SourceDeclaration] = {}
    for d in dirs:
        for p in sorted([*d.glob("*.yml"), *d.glob("*.yaml")]):
            decl = load_declaration(p)
            if decl.name in out:
                raise DeclarationError(
                    f"{p.name}: source: {decl.name!r} is declared twice ({out[decl.name].path} and {p})"
                )
            out[decl.name] = decl
    return out if include_produced else {n: d for n, d in out.items() if d.produced_by is None}


def produced_declarations(producer: str) -> dict[str, SourceDeclaration]:
    """The declarations of the entities `producer` (a step of PRODUCERS) writes, by source name."""
    if producer not in PRODUCERS:
        raise ValueError(f"unknown producer {producer!r} (known: {', '.join(PRODUCERS)})")
    return {n: d for n, d in load_declarations(include_produced=True).items() if d.produced_by == producer}
