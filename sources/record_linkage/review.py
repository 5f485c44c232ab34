"""The review round trip: the pairs in the review band to an XLSX a person fills in, and the
filled sheets back as decisions (sources.record_linkage.decisions) for the next run.

    write_review_sheet(path, result.links, records, config)   # one row per pair to decide
    read = read_decisions([path, ...], known=pair_keys(result.links))
    match_records(records, config, decisions=read.decisions)

The sheet (`review`): `pair_key` (`<unique_id>|<unique_id>`, ordered: stable across runs), both
records' unique_ids, `decision` (a drop-down: confirm / reject / blank), `reviewer`, `note`,
the match probability, every comparison's agreement, then each field of the two records side by
side (`first_name_l`, `first_name_r`, ...: names as written). Written by the project's
MarketerWorkbook (activations/exports/xlsx.py): text always as text, so a name such as `=1+1`
or `+66...` is no formula.

Reading back (python-calamine, by sources.readers.XlsxReader): every data row is either a
decision, undecided (blank `decision`) or rejected with its reason (file, sheet row), so
rows_in = decided + undecided + rejected. A row is rejected for: a pair key that is not
`pair_key(unique_id_l, unique_id_r)` of its row, a key not in `known` (the pairs the sheet was
written from), a decision other than confirm / reject, a decision without a reviewer, a formula
instead of a value, or a pair repeated within one sheet (all its rows). By default any rejected
row raises DecisionSheetError naming each (`strict=False` keeps them in `rejected` instead).
Decisions accumulate across sheets in the order given: a later sheet's decision on a pair wins;
a blank decision in a later sheet leaves an earlier one standing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from activations.exports.xlsx import MarketerWorkbook
from sources.readers import ReadError, XlsxReader
from sources.record_linkage.config import MatchingConfig
from sources.record_linkage.decisions import DECISION_COLUMNS, DECISIONS, latest, no_decisions, pair_key
from sources.record_linkage.features import RECORD_COLUMNS, UNIQUE_ID

SHEET = "review"
# the columns read back; the rest of the sheet is for the person
KEY_COLUMNS = ("pair_key", "unique_id_l", "unique_id_r")
DECIDE_COLUMNS = ("decision", "reviewer", "note")
# the records' fields shown side by side (source_system / source_customer_id are in the unique_id)
SHOWN_FIELDS = tuple(c for c in RECORD_COLUMNS if c not in ("source_system", "source_customer_id"))
MAX_PROBLEMS_SHOWN = 20


class DecisionSheetError(ValueError):
    """A review sheet cannot be read, or has rows that are no valid decision; the message names
    the file, the sheet row and the reason of each."""


def review_header(config: MatchingConfig) -> list[str]:
    return [
        *KEY_COLUMNS,
        *DECIDE_COLUMNS,
        "match_probability",
        *(f"{c.name}_agreement" for c in config.comparisons),
        *(f"{f}_{side}" for f in SHOWN_FIELDS for side in ("l", "r")),
    ]


def _value(v):
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return v.isoformat() if hasattr(v, "isoformat") else v


def review_rows(links: pd.DataFrame, records: pd.DataFrame, config: MatchingConfig) -> list[list]:
    """The review sheet's rows: links with decision `review` that no person decided yet."""
    todo = links[(links["decision"] == "review") & links["reviewer"].isna()]
    ids = records["source_system"].astype(str) + ":" + records["source_customer_id"].astype(str)
    by_id = records.assign(**{UNIQUE_ID: ids}).set_index(UNIQUE_ID)
    rows = []
    for link in todo.itertuples(index=False):
        lo, hi = sorted((link.unique_id_l, link.unique_id_r))
        left, right = by_id.loc[lo], by_id.loc[hi]
        rows.append(
            [
                pair_key(lo, hi),
                lo,
                hi,
                None,
                None,
                None,
                _value(link.match_probability),
                *(_value(getattr(link, f"{c.name}_agreement")) for c in config.comparisons),
                *(_value(rec[f]) for f in SHOWN_FIELDS for rec in (left, right)),
            ]
        )
    return rows


def write_review_sheet(
    path: str | Path, links: pd.DataFrame, records: pd.DataFrame, config: MatchingConfig
) -> int:
    """Write the pairs to review (see review_rows) to `path`; returns how many."""
    rows = review_rows(links, records, config)
    dropdown = {
        "validate": "list",
        "source": list(DECISIONS),
        "ignore_blank": True,
        "error_title": "decision",
        "error_message": f"Choose {' or '.join(DECISIONS)}, or leave it blank (undecided).",
    }
    with MarketerWorkbook(path) as xw:
        xw.add_sheet(SHEET, review_header(config), rows, validations={"decision": dropdown})
    return len(rows)


@dataclass
class DecisionRead:
    decisions: pd.DataFrame  # DECISION_COLUMNS, one row per pair (the latest decision)
    rejected: list[dict] = field(default_factory=list)  # file, row (sheet row), pair_key, reason
    rows_in: int = 0
    decided: int = 0  # rows with a valid decision (before later sheets override earlier ones)
    undecided: int = 0  # rows with a blank decision

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.decided + self.undecided + len(self.rejected)


def _text(v) -> str:
    return v.strip() if isinstance(v, str) else ""


def _read_sheet(path: Path, known: set[str] | None, out: DecisionRead) -> list[dict]:
    """One sheet's valid decisions; its bad rows appended to out.rejected."""
    try:
        reader = XlsxReader(path, sheet=SHEET)
        batches = list(reader.batches())
    except ReadError as exc:
        raise DecisionSheetError(f"{path.name}: {exc}") from None
    header = [h.casefold() for h in reader.header]
    missing = [c for c in (*KEY_COLUMNS, *DECIDE_COLUMNS) if c not in header]
    if missing:
        raise DecisionSheetError(
            f"{path.name}: sheet {SHEET!r} has no column {missing[0]!r} (a review sheet needs "
            f"{', '.join((*KEY_COLUMNS, *DECIDE_COLUMNS))})"
        )
    col = {c: header.index(c) for c in (*KEY_COLUMNS, *DECIDE_COLUMNS)}
    read_cols = {i: c for c, i in col.items() if c != "note"}
    decided_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    rows: list[dict] = []
    bad: dict[int, str] = {}
    for batch in batches:
        formulas = {}
        for pos, i, f in batch.uncomputed:
            if i in read_cols:
                formulas.setdefault(pos, f"{read_cols[i]}: a formula (={f}), not a value")
        values = {c: batch.columns[i].to_pylist() for c, i in col.items()}
        for pos, n in enumerate(batch.row_numbers.to_pylist()):
            out.rows_in += 1
            sheet_row = n + reader.header_row
            r = {c: _text(values[c][pos]) for c in col}
            key, a, b = r["pair_key"], r["unique_id_l"], r["unique_id_r"]
            decision = r["decision"].casefold()
            reason = formulas.get(pos)
            if reason is None and (not a or not b or a == b or key != pair_key(a, b)):
                reason = f"pair_key {key!r} is not the key of its records ({a!r}, {b!r}): edited?"
            elif reason is None and known is not None and key not in known:
                reason = f"unknown pair_key {key!r} (not a pair this sheet was written from)"
            elif reason is None and decision and decision not in DECISIONS:
                reason = f"decision {r['decision']!r} is not one of {', '.join(DECISIONS)} (or blank)"
            elif reason is None and decision and not r["reviewer"]:
                reason = f"decision {decision!r} without a reviewer"
            if reason is not None:
                bad[sheet_row] = reason
            rows.append(
                {
                    "pair_key": key,
                    "unique_id_l": min(a, b),
                    "unique_id_r": max(a, b),
                    "decision": decision,
                    "reviewer": r["reviewer"],
                    "note": r["note"] or None,
                    "decided_at": decided_at,
                    "file": str(path),
                    "row": sheet_row,
                }
            )
    by_key: dict[str, list[int]] = {}
    for r in rows:
        if r["row"] not in bad and r["pair_key"]:
            by_key.setdefault(r["pair_key"], []).append(r["row"])
    for key, at in by_key.items():
        if len(at) > 1:
            for n in at:
                bad[n] = f"pair_key {key!r} is repeated in sheet rows {', '.join(map(str, at))}"
    for r in rows:
        if r["row"] in bad:
            out.rejected.append(
                {"file": str(path), "row": r["row"], "pair_key": r["pair_key"], "reason": bad[r["row"]]}
            )
        elif r["decision"]:
            out.decided += 1
        else:
            out.undecided += 1
    return [r for r in rows if r["row"] not in bad and r["decision"]]


def read_decisions(
    paths: Sequence[str | Path] | str | Path, known: Iterable[str] | None = None, *, strict: bool = True
) -> DecisionRead:
    """The decisions in the filled review sheets `paths` (in this order: a later sheet's decision
    on a pair wins). `known`: the pair keys the sheets were written from (e.g. pair_keys(links));
    None skips that check. Rejected rows raise DecisionSheetError, or with strict=False are kept
    in `.rejected` (rows_in = decided + undecided + rejected)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    known_keys = None if known is None else set(known)
    out = DecisionRead(no_decisions())
    found: list[dict] = []
    for p in paths:
        found += _read_sheet(Path(p), known_keys, out)
    if strict and out.rejected:
        shown = "; ".join(
            f"{Path(r['file']).name}: sheet row {r['row']}: {r['reason']}"
            for r in out.rejected[:MAX_PROBLEMS_SHOWN]
        )
        more = len(out.rejected) - MAX_PROBLEMS_SHOWN
        raise DecisionSheetError(
            f"{len(out.rejected)} of {out.rows_in} review row(s) are no valid decision: {shown}"
            + (f"; and {more} more" if more > 0 else "")
        )
    if found:
        out.decisions = latest(pd.DataFrame(found, columns=list(DECISION_COLUMNS)))
    return out
