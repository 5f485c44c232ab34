"""Row-level edits of landing extracts in their own format (CSV in its encoding, JSONL, XLSX)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

Rows = list[dict]
Edit = Callable[[list[str], Rows], tuple[list[str], Rows]]


def _csv_encoding(raw: bytes) -> str:
    for enc in ("utf-8-sig", "cp874"):
        try:
            raw.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    raise ValueError("neither UTF-8 nor cp874")


def edit_rows(path: Path, edit: Edit) -> int:
    """Rewrite one landing file through `edit(header, rows) -> (header, rows)`; returns rows written."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = path.read_bytes()
        enc = _csv_encoding(raw)
        reader = csv.DictReader(io.StringIO(raw.decode(enc), newline=""))
        header, rows = edit(list(reader.fieldnames or []), list(reader))
        out = io.StringIO(newline="")
        writer = csv.DictWriter(
            out, fieldnames=header, quoting=csv.QUOTE_ALL, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
        path.write_bytes(out.getvalue().encode(enc))
    elif suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        header = list(rows[0]) if rows else []
        header, rows = edit(header, rows)
        path.write_text(
            "".join(json.dumps({k: r.get(k) for k in header}, ensure_ascii=False) + "\n" for r in rows),
            encoding="utf-8",
        )
    elif suffix == ".xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(path)
        ws = wb.worksheets[0]
        values = [list(r) for r in ws.iter_rows(values_only=True)]
        # the header is the first row whose cells are all text (some exports carry a title row)
        h = next(
            i
            for i, r in enumerate(values)
            if r and all(isinstance(c, str) for c in r if c is not None) and sum(c is not None for c in r) > 3
        )
        header = [str(c) if c is not None else "" for c in values[h]]
        rows = [dict(zip(header, r, strict=False)) for r in values[h + 1 :] if any(c is not None for c in r)]
        new_header, rows = edit(header, rows)
        ws.delete_rows(h + 2, ws.max_row)
        for j, name in enumerate(new_header, start=1):
            ws.cell(row=h + 1, column=j, value=name)
        for i, r in enumerate(rows, start=h + 2):
            for j, name in enumerate(new_header, start=1):
                ws.cell(row=i, column=j, value=r.get(name))
        wb.save(path)
    else:
        raise ValueError(f"{path}: no row editor for {suffix}")
    return len(rows)


def count_rows(path: Path) -> int:
    n = 0

    def counting(header, rows):
        nonlocal n
        n = len(rows)
        return header, rows

    before = path.read_bytes()
    edit_rows(path, counting)
    path.write_bytes(before)
    return n
