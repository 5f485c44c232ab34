"""The matching configuration (sources/record_linkage/matching.yml), loaded and validated once.

Every error names the file and the field (`matching.yml: thresholds.review: ...`), like the
source declarations do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from sources.declarations import top_level_problem
from sources.record_linkage.features import PREPARED_COLUMNS

CONFIG_PATH = Path(__file__).resolve().parent / "matching.yml"
KINDS = ("name", "string", "date", "columns")
DATE_METRICS = ("day", "month", "year")
_TOP = {
    "thresholds",
    "probability_two_random_records_match",
    "blocking",
    "training",
    "comparisons",
    "merge_requires",
}
_TRAINING = {"u_max_pairs", "seed", "em_blocking", "m_floor"}
_COMPARISON = {
    "name": {"name", "kind", "forename", "surname", "full_name", "jaro_winkler"},
    "string": {"name", "kind", "column", "jaro_winkler", "term_frequency", "as_written"},
    "date": {"name", "kind", "column", "within"},
    "columns": {"name", "kind", "levels"},
}


class MatchingConfigError(ValueError):
    """matching.yml is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Comparison:
    name: str
    kind: str  # one of KINDS
    column: str | None = None  # string, date
    jaro_winkler: tuple[float, ...] = ()  # string: similarity bands, highest first
    term_frequency: bool = False  # string: exact agreement weighted by how rare the value is
    as_written: str | None = None  # string: the same value unromanised, Jaro-Winkler >= the first band
    within: tuple[tuple[int, str], ...] = ()  # date: (threshold, metric) bands, narrowest first
    levels: tuple[tuple[str, ...], ...] = ()  # columns: columns agreeing exactly, most specific first
    forename: str | None = None  # name: compared jointly, so "surname only" is its own level
    surname: str | None = None
    full_name: str | None = None  # name: forename + surname, for term frequencies of the whole name

    @property
    def columns(self) -> tuple[str, ...]:
        if self.kind == "columns":
            return tuple(dict.fromkeys(c for level in self.levels for c in level))
        if self.kind == "name":
            return tuple(c for c in (self.forename, self.surname, self.full_name) if c)
        return tuple(c for c in (self.column, self.as_written) if c)


@dataclass(frozen=True)
class MatchingConfig:
    path: Path
    merge: float
    review: float
    prior: float  # probability_two_random_records_match
    blocking: tuple[tuple[str, ...], ...]
    u_max_pairs: float
    seed: int
    em_blocking: tuple[tuple[str, ...], ...]
    m_floor: float
    comparisons: tuple[Comparison, ...]
    # (comparison, unless_agree): the comparison must not disagree for a pair to merge, unless
    # one of `unless_agree` agrees (its most specific level); else the pair goes to review,
    # however likely: relatives share a surname and an address, the naive-Bayes weights add them up
    merge_requires: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def comparison(self, name: str) -> Comparison:
        return next(c for c in self.comparisons if c.name == name)


def _err(path: Path, where: str, msg: str) -> MatchingConfigError:
    return MatchingConfigError(f"{path.name}: {where}: {msg}")


def _probability(path: Path, where: str, v: Any, *, open_low: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not (0 < v < 1 if open_low else 0 <= v < 1):
        raise _err(path, where, f"must be a probability strictly between 0 and 1, got {v!r}")
    return float(v)


def _rules(path: Path, where: str, v: Any) -> tuple[tuple[str, ...], ...]:
    if not isinstance(v, list) or not v:
        raise _err(path, where, "must be a non-empty list of rules (each a list of columns)")
    out = []
    for i, rule in enumerate(v):
        if not isinstance(rule, list) or not rule or not all(isinstance(c, str) for c in rule):
            raise _err(path, f"{where}[{i}]", f"must be a non-empty list of column names, got {rule!r}")
        unknown = [c for c in rule if c not in PREPARED_COLUMNS]
        if unknown:
            raise _err(
                path, f"{where}[{i}]", f"unknown column {unknown[0]!r} (known: {', '.join(PREPARED_COLUMNS)})"
            )
        out.append(tuple(rule))
    return tuple(out)


def _column(path: Path, where: str, v: Any) -> str:
    if v not in PREPARED_COLUMNS:
        raise _err(path, where, f"unknown column {v!r} (known: {', '.join(PREPARED_COLUMNS)})")
    return v


def _comparison(path: Path, i: int, spec: Any) -> Comparison:
    where = f"comparisons[{i}]"
    if not isinstance(spec, dict):
        raise _err(path, where, "must be a mapping")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise _err(path, f"{where}.kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    unknown = set(spec) - _COMPARISON[kind]
    if unknown:
        raise _err(
            path,
            f"{where}.{sorted(unknown)[0]}",
            f"unknown field for kind {kind} (allowed: {', '.join(sorted(_COMPARISON[kind]))})",
        )
    name = spec.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise _err(path, f"{where}.name", f"must be a lower-case identifier, got {name!r}")
    if kind in ("string", "name"):
        bands = spec.get("jaro_winkler", [])
        if not isinstance(bands, list) or not all(
            isinstance(b, int | float) and not isinstance(b, bool) and 0 < b < 1 for b in bands
        ):
            raise _err(
                path, f"{where}.jaro_winkler", f"must be a list of similarities in (0, 1), got {bands!r}"
            )
        if list(bands) != sorted(bands, reverse=True) or len(set(bands)) != len(bands):
            raise _err(path, f"{where}.jaro_winkler", f"must be strictly decreasing, got {bands!r}")
        if kind == "name":
            return Comparison(
                name,
                kind,
                jaro_winkler=tuple(float(b) for b in bands),
                forename=_column(path, f"{where}.forename", spec.get("forename")),
                surname=_column(path, f"{where}.surname", spec.get("surname")),
                full_name=_column(path, f"{where}.full_name", spec.get("full_name")),
            )
        tf = spec.get("term_frequency", False)
        if not isinstance(tf, bool):
            raise _err(path, f"{where}.term_frequency", f"must be true or false, got {tf!r}")
        written = spec.get("as_written")
        return Comparison(
            name,
            kind,
            column=_column(path, f"{where}.column", spec.get("column")),
            jaro_winkler=tuple(float(b) for b in bands),
            term_frequency=tf,
            as_written=None if written is None else _column(path, f"{where}.as_written", written),
        )
    if kind == "date":
        within = []
        for j, band in enumerate(spec.get("within", [])):
            m = re.fullmatch(r"\s*(\d+)\s+(day|month|year)s?\s*", str(band))
            if not m:
                raise _err(path, f"{where}.within[{j}]", f"must read '<n> day|month|year', got {band!r}")
            within.append((int(m.group(1)), m.group(2)))
        return Comparison(
            name, kind, column=_column(path, f"{where}.column", spec.get("column")), within=tuple(within)
        )
    levels = _rules(path, f"{where}.levels", spec.get("levels"))
    return Comparison(name, kind, levels=levels)


def parse_config(path: Path, data: Any) -> MatchingConfig:
    path = Path(path)
    if problem := top_level_problem(data, _TOP):
        raise _err(path, *problem)
    th = data.get("thresholds")
    if not isinstance(th, dict) or set(th) != {"merge", "review"}:
        raise _err(path, "thresholds", "must be a mapping with exactly `merge` and `review`")
    merge = _probability(path, "thresholds.merge", th["merge"])
    review = _probability(path, "thresholds.review", th["review"])
    if review >= merge:
        raise _err(path, "thresholds.review", f"must be below thresholds.merge ({merge}), got {review}")
    prior = _probability(
        path, "probability_two_random_records_match", data.get("probability_two_random_records_match")
    )
    tr = data.get("training")
    if not isinstance(tr, dict) or set(tr) - _TRAINING:
        raise _err(path, "training", f"must be a mapping with {', '.join(sorted(_TRAINING))}")
    u_max = tr.get("u_max_pairs")
    if isinstance(u_max, bool) or not isinstance(u_max, int | float) or u_max < 1000:
        raise _err(path, "training.u_max_pairs", f"must be a number of pairs >= 1000, got {u_max!r}")
    seed = tr.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise _err(path, "training.seed", f"must be an integer, got {seed!r}")
    m_floor = _probability(path, "training.m_floor", tr.get("m_floor"))
    comps_raw = data.get("comparisons")
    if not isinstance(comps_raw, list) or not comps_raw:
        raise _err(path, "comparisons", "must be a non-empty list")
    comparisons = tuple(_comparison(path, i, c) for i, c in enumerate(comps_raw))
    names = [c.name for c in comparisons]
    dupe = next((n for n in names if names.count(n) > 1), None)
    if dupe:
        raise _err(path, "comparisons", f"name {dupe!r} is used twice")
    requires = []
    raw_requires = data.get("merge_requires", [])
    if not isinstance(raw_requires, list):
        raise _err(path, "merge_requires", f"must be a list, got {raw_requires!r}")
    for i, req in enumerate(raw_requires):
        where = f"merge_requires[{i}]"
        if not isinstance(req, dict) or set(req) - {"comparison", "unless_agree"}:
            raise _err(path, where, f"must be a mapping with `comparison` and `unless_agree`, got {req!r}")
        unless = req.get("unless_agree", [])
        for n in [req.get("comparison"), *(unless if isinstance(unless, list) else [unless])]:
            if n not in names or not isinstance(unless, list):
                raise _err(path, where, f"names no comparison ({', '.join(names)}): {n!r}")
        requires.append((req["comparison"], tuple(unless)))
    em = _rules(path, "training.em_blocking", tr.get("em_blocking"))
    # EM does not train a comparison on a rule that blocks on one of its columns: every
    # comparison needs a rule that leaves it free, or its m would stay untrained
    for c in comparisons:
        if all(set(c.columns) & set(rule) for rule in em):
            raise _err(
                path,
                "training.em_blocking",
                f"every rule blocks on a column of comparison {c.name!r} ({', '.join(c.columns)}): "
                "its m probabilities would never be trained; add a rule on other columns",
            )
    return MatchingConfig(
        path=path,
        merge=merge,
        review=review,
        prior=prior,
        blocking=_rules(path, "blocking", data.get("blocking")),
        u_max_pairs=float(u_max),
        seed=seed,
        em_blocking=em,
        m_floor=m_floor,
        comparisons=comparisons,
        merge_requires=tuple(requires),
    )


def load_config(path: Path | str | None = None) -> MatchingConfig:
    """matching.yml (or `path`), validated; the built-in one is read once per process."""
    return _load(Path(path).resolve() if path is not None else CONFIG_PATH)


@lru_cache(maxsize=8)
def _load(path: Path) -> MatchingConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MatchingConfigError(f"{path.name}: not valid YAML: {exc}") from None
    except OSError as exc:
        raise MatchingConfigError(f"{path.name}: cannot read ({exc})") from None
    return parse_config(path, data)
