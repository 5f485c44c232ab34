"""The review round trip: the review band to an XLSX, filled by a person (here openpyxl), read
back as decisions, applied on the next run: a rejected pair never ends up in one cluster (not
even through a third record), a confirmed one does (even one the model did not list)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from sources.record_linkage import load_config, match_records
from sources.record_linkage.decisions import DECISION_COLUMNS, DECISIONS, apply_decisions, pair_key, pair_keys
from sources.record_linkage.review import (
    SHEET,
    DecisionSheetError,
    read_decisions,
    review_header,
    write_review_sheet,
)
from tests.record_linkage.people import generate


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    g = generate(800, seed=3)
    config = load_config()
    result = match_records(g.records, config)
    sheet = tmp_path_factory.mktemp("review") / "review.xlsx"
    n = write_review_sheet(sheet, result.links, g.records, config)
    return g, config, result, sheet, n


def cluster_of(result) -> dict[str, str]:
    return dict(zip(result.clusters["unique_id"], result.clusters["cluster_id"], strict=True))


def fill(src: Path, dst: Path, cells: dict[int, dict[str, str]], config, extra_rows=()) -> None:
    """Write `cells` ({sheet row: {column: value}}) into a copy of the sheet, as a person would;
    `extra_rows` are appended (lists of values in header order)."""
    wb = load_workbook(src)
    ws = wb[SHEET]
    header = review_header(config)
    assert [c.value for c in ws[1]] == header
    for row, values in cells.items():
        for col, v in values.items():
            ws.cell(row=row, column=header.index(col) + 1, value=v)
    for values in extra_rows:
        ws.append(list(values))
    wb.save(dst)


def sheet_rows(path: Path) -> list[tuple]:
    return list(load_workbook(path)[SHEET].iter_rows(min_row=2, values_only=True))


def test_the_sheet_lists_the_review_band_with_a_decision_drop_down(run):
    g, config, result, sheet, n = run
    review = result.links[result.links["decision"] == "review"]
    rows = sheet_rows(sheet)
    assert n == len(rows) == len(review) > 0
    header = review_header(config)
    keys = [r[header.index("pair_key")] for r in rows]
    assert set(keys) == set(pair_keys(review))
    for r in rows:
        a, b = r[header.index("unique_id_l")], r[header.index("unique_id_r")]
        assert a < b and r[header.index("pair_key")] == f"{a}|{b}"
    # names as written, side by side
    first = r[header.index("first_name_l")], r[header.index("first_name_r")]
    by_id = g.records.assign(uid=g.records["source_system"] + ":" + g.records["source_customer_id"])
    assert first == tuple(by_id.set_index("uid").loc[[a, b], "first_name"])
    with zipfile.ZipFile(sheet) as zf:
        xml = zf.read("xl/worksheets/sheet1.xml").decode()
    validations = re.findall(r"<dataValidation [^>]*>.*?</dataValidation>", xml, re.S)
    assert len(validations) == 1
    v = validations[0]
    column = chr(ord("A") + header.index("decision"))
    assert 'type="list"' in v and 'allowBlank="1"' in v
    assert f'sqref="{column}2:{column}{n + 1}"' in v
    assert f'<formula1>"{",".join(DECISIONS)}"</formula1>' in v


def test_rejected_pairs_never_merge_and_confirmed_pairs_do(run, tmp_path):
    g, config, result, sheet, _ = run
    before = cluster_of(result)
    header = review_header(config)
    rows = sheet_rows(sheet)
    row_of = {r[header.index("pair_key")]: i + 2 for i, r in enumerate(rows)}
    review = result.links[result.links["decision"] == "review"]
    inside = [k for k, a, b in zip(pair_keys(review), review.unique_id_l, review.unique_id_r, strict=True)
              if before[a] == before[b]]  # fmt: skip
    apart = [k for k, a, b in zip(pair_keys(review), review.unique_id_l, review.unique_id_r, strict=True)
             if before[a] != before[b]]  # fmt: skip
    # a review pair already in one cluster through third records: the rejection must split them
    rejected, confirmed = inside[0], apart[0]
    undecided = apart[1]
    filled = tmp_path / "filled.xlsx"
    fill(
        sheet,
        filled,
        {
            row_of[rejected]: {"decision": "reject", "reviewer": "alice", "note": "siblings"},
            row_of[confirmed]: {"decision": "Confirm ", "reviewer": "bob"},
        },
        config,
    )
    read = read_decisions(filled, known=pair_keys(result.links))
    assert read.balanced and read.rows_in == len(rows) and read.decided == 2 and not read.rejected
    assert set(read.decisions["pair_key"]) == {rejected, confirmed}
    # a true pair the model did not list at all, confirmed too
    listed = set(pair_keys(result.links))
    unlisted = sorted(k for k in (pair_key(a, b) for a, b in g.true_pairs()) if k not in listed)[0]
    lo, hi = unlisted.split("|")
    assert before[lo] != before[hi]
    extra = pd.DataFrame(
        [[unlisted, lo, hi, "confirm", "carol", None, None, "-", 0]], columns=list(DECISION_COLUMNS)
    )
    decisions = pd.concat([read.decisions, extra], ignore_index=True)

    again = match_records(g.records, config, decisions=decisions)
    after = cluster_of(again)
    for key in (confirmed, unlisted):
        a, b = key.split("|")
        assert after[a] == after[b], key
    a, b = rejected.split("|")
    assert after[a] != after[b]
    links = again.links.assign(pair_key=pair_keys(again.links)).set_index("pair_key")
    assert links.loc[rejected, ["decision", "reason", "reviewer"]].tolist() == [
        "review",
        "rejected by alice",
        "alice",
    ]
    assert links.loc[confirmed, ["decision", "reason"]].tolist() == ["merge", "confirmed by bob"]
    assert links.loc[unlisted, ["decision", "reason"]].tolist() == ["merge", "confirmed by carol"]
    assert pd.isna(links.loc[unlisted, "match_probability"])
    # the merge edges that would have rejoined the two now wait for review, saying why
    dropped = links[links["reason"] == f"would join {rejected}, rejected by alice"]
    assert len(dropped) >= 1 and (dropped["decision"] == "review").all()
    assert again.unapplied == []
    # the next sheet lists what is left to decide (the dropped edges), not the decided pairs
    nxt = tmp_path / "next.xlsx"
    write_review_sheet(nxt, again.links, g.records, config)
    keys = {r[header.index("pair_key")] for r in sheet_rows(nxt)}
    assert undecided in keys and set(dropped.index) <= keys
    assert not keys & {rejected, confirmed, unlisted}


def test_a_rejection_holds_against_a_chain_of_merges():
    links = pd.DataFrame(
        {
            "unique_id_l": ["a", "b", "c", "a"],
            "unique_id_r": ["b", "c", "d", "x"],
            "match_probability": [0.99, 0.98, 0.97, 0.3],
            "decision": ["merge", "merge", "merge", "review"],
            "reason": ""
        }
    )  # fmt: skip
    decisions = pd.DataFrame(
        [
            ["a|d", "a", "d", "reject", "ann", None, None, "f", 2],
            ["c|x", "c", "x", "confirm", "ben", None, None, "f", 3],
        ],
        columns=list(DECISION_COLUMNS),
    )
    out, unapplied = apply_decisions(links, decisions, ["a", "b", "c", "d", "x"])
    got = {
        pair_key(a, b): (d, r)
        for a, b, d, r in out[["unique_id_l", "unique_id_r", "decision", "reason"]].values
    }
    # the confirmed c-x first (the model did not list it), then the merges, most likely first:
    # a-b joins, b-c joins {a, b} to {c, x}, c-d would then put a and d in one cluster: dropped
    assert got == {
        "a|b": ("merge", ""),
        "b|c": ("merge", ""),
        "c|d": ("review", "would join a|d, rejected by ann"),
        "a|x": ("review", ""),
        "c|x": ("merge", "confirmed by ben"),
        "a|d": ("review", "rejected by ann"),
    }
    assert unapplied == []
    out, unapplied = apply_decisions(links, decisions, ["a", "b", "c", "d"])  # x gone: c|x not applied
    assert unapplied == ["c|x"]


def test_later_sheets_win_and_blank_leaves_a_decision_standing(run, tmp_path):
    _, config, result, sheet, _ = run
    first, second = tmp_path / "1.xlsx", tmp_path / "2.xlsx"
    fill(
        sheet,
        first,
        {2: {"decision": "confirm", "reviewer": "ann"}, 3: {"decision": "reject", "reviewer": "ann"}},
        config,
    )
    fill(sheet, second, {2: {"decision": "reject", "reviewer": "ben"}}, config)
    rows = sheet_rows(sheet)
    key = review_header(config).index("pair_key")
    read = read_decisions([first, second], known=pair_keys(result.links))
    got = read.decisions.set_index("pair_key")
    assert got.loc[rows[0][key], ["decision", "reviewer", "file"]].tolist() == ["reject", "ben", str(second)]
    assert got.loc[rows[1][key], ["decision", "reviewer"]].tolist() == ["reject", "ann"]
    assert len(got) == 2 and read.rows_in == 2 * len(rows) and read.balanced


def test_bad_rows_name_the_file_the_row_and_the_reason(run, tmp_path):
    _, config, result, sheet, n = run
    header = review_header(config)
    rows = sheet_rows(sheet)
    bad = tmp_path / "bad.xlsx"
    copy = list(rows[3])
    copy[header.index("decision")], copy[header.index("reviewer")] = "confirm", "dan"
    stranger = list(rows[4])
    stranger[header.index("unique_id_r")] = "pos:NOPE"
    stranger[header.index("pair_key")] = pair_key(stranger[header.index("unique_id_l")], "pos:NOPE")
    stranger[header.index("decision")], stranger[header.index("reviewer")] = "reject", "dan"
    fill(
        sheet,
        bad,
        {
            2: {"decision": "yes", "reviewer": "dan"},
            3: {"decision": "reject"},
            4: {"pair_key": "pos:X|web:Y", "decision": "reject", "reviewer": "dan"},
            5: {"decision": "reject", "reviewer": "dan"},
            6: {"decision": "reject", "reviewer": "dan"},
        },
        config,
        extra_rows=[copy, stranger],
    )
    with pytest.raises(DecisionSheetError) as exc:
        read_decisions(bad, known=pair_keys(result.links))
    msg = str(exc.value)
    assert msg.startswith(f"6 of {n + 2} review row(s) are no valid decision: ")
    assert "bad.xlsx: sheet row 2: decision 'yes' is not one of confirm, reject (or blank)" in msg
    assert "bad.xlsx: sheet row 3: decision 'reject' without a reviewer" in msg
    assert "bad.xlsx: sheet row 4: pair_key 'pos:X|web:Y' is not the key of its records" in msg
    assert f"bad.xlsx: sheet row 5: pair_key {rows[3][0]!r} is repeated in sheet rows 5, {n + 2}" in msg
    assert f"bad.xlsx: sheet row {n + 3}: unknown pair_key" in msg
    assert "sheet row 6:" not in msg
    quarantined = read_decisions(bad, known=pair_keys(result.links), strict=False)
    assert quarantined.balanced and quarantined.rows_in == n + 2
    assert len(quarantined.rejected) == 6 and quarantined.decided == 1
    assert quarantined.decisions["pair_key"].tolist() == [rows[4][0]]


def test_a_file_that_is_no_review_sheet_is_refused(run, tmp_path):
    _, config, _, sheet, _ = run
    text = tmp_path / "notes.xlsx"
    text.write_text("pair_key,decision\n", encoding="utf-8")
    with pytest.raises(DecisionSheetError, match=r"^notes\.xlsx: wrong format"):
        read_decisions(text)
    wb = load_workbook(sheet)
    wb[SHEET].delete_cols(review_header(config).index("reviewer") + 1)
    wb.save(tmp_path / "cut.xlsx")
    with pytest.raises(DecisionSheetError, match=r"^cut\.xlsx: sheet 'review' has no column 'reviewer'"):
        read_decisions(tmp_path / "cut.xlsx")


def test_decisions_not_from_a_sheet_are_checked():
    links = pd.DataFrame(
        {
            "unique_id_l": ["a"],
            "unique_id_r": ["b"],
            "match_probability": [0.9],
            "decision": ["review"],
            "reason": "",
        }
    )
    bad = pd.DataFrame([["a|b", "a", "b", "yes", "ann", None, None, "f", 2]], columns=list(DECISION_COLUMNS))
    with pytest.raises(ValueError, match=r"decisions row 0: 'a\|b' \('a', 'b'\) 'yes'"):
        apply_decisions(links, bad, ["a", "b"])
    swapped = bad.assign(decision="reject", pair_key="b|a")
    with pytest.raises(ValueError, match=r"decisions row 0: 'b\|a'"):
        apply_decisions(links, swapped, ["a", "b"])


def test_a_rejection_wins_over_a_confirmation_that_contradicts_it():
    links = pd.DataFrame(
        {
            "unique_id_l": ["a"],
            "unique_id_r": ["b"],
            "match_probability": [0.99],
            "decision": ["merge"],
            "reason": "",
        }
    )
    decisions = pd.DataFrame(
        [
            ["a|c", "a", "c", "reject", "ann", None, None, "f", 2],
            ["b|c", "b", "c", "confirm", "ben", None, None, "f", 3],
        ],
        columns=list(DECISION_COLUMNS),
    )
    out, _ = apply_decisions(links, decisions, ["a", "b", "c"])
    got = dict(zip(pair_keys(out), zip(out["decision"], out["reason"], strict=True), strict=True))
    # confirmed pairs go first: b-c joins, then the model's a-b would put a with c
    assert got == {
        "b|c": ("merge", "confirmed by ben"),
        "a|b": ("review", "would join a|c, rejected by ann"),
        "a|c": ("review", "rejected by ann"),
    }


def test_a_formula_is_no_decision(run, tmp_path):
    _, config, result, sheet, n = run
    column = chr(ord("A") + review_header(config).index("pair_key"))
    formula = tmp_path / "formula.xlsx"
    fill(sheet, formula, {2: {"decision": f'=IF({column}2<>"","confirm","")', "reviewer": "eve"}}, config)
    read = read_decisions(formula, known=pair_keys(result.links), strict=False)
    assert [(r["row"], r["reason"]) for r in read.rejected] == [
        (2, f'decision: a formula (=IF({column}2<>"","confirm","")), not a value')
    ]
    assert read.balanced and read.undecided == n - 1 and read.decided == 0
