"""One way to write a number in everything a marketer reads (activations/exports/numbers.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from activations.exports.numbers import count, money, number, percent, points

ROOT = Path(__file__).resolve().parents[2]
# the modules that write what a marketer reads: the report, the export files, the run summary
MARKETER_FACING = [
    "activations/exports/campaign_report.py",
    "activations/exports/files.py",
    "activations/exports/xlsx.py",
    "crmloop/summary.py",
]
# an f-string replacement field formatting thousands or a percentage itself: {x:,} {x:.1%} {x:,.0f}
INLINE_NUMBER_FORMAT = re.compile(r"\{[\w.\[\]'\"()* +/-]+:[+ -]?\d*(,\d*(\.\d+)?[df]?|(\.\d+)?%)\}")


@pytest.mark.parametrize(
    ("fn", "value", "text"),
    [
        (count, 12345, "12,345"),
        (count, np.int64(1234567), "1,234,567"),
        (count, 7.0, "7"),
        (count, 0, "0"),
        (percent, 0.1234, "12.3%"),
        (percent, 1, "100.0%"),
        (percent, 0.0005, "0.1%"),
        (points, 0.0123, "+1.2 pp"),
        (points, -0.004, "-0.4 pp"),
        (points, -0.0003, "0.0 pp"),
        (money, 1234567.8, "1,234,568"),
        (number, 2500.0, "2,500"),
        (number, 3.14159, "3.14"),
        (number, "regular_winback", "regular_winback"),
        (number, True, "True"),
    ],
)
def test_formats(fn, value, text):
    assert fn(value) == text


@pytest.mark.parametrize("fn", [count, percent, points, money, number])
@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA, np.nan])
def test_missing_is_blank(fn, missing):
    assert fn(missing) == ""


@pytest.mark.parametrize("path", MARKETER_FACING)
def test_marketer_facing_modules_format_numbers_only_through_the_formatter(path):
    source = (ROOT / path).read_text(encoding="utf-8")
    inline = [m.group(0) for m in INLINE_NUMBER_FORMAT.finditer(source)]
    assert not inline, f"{path} formats numbers itself: {inline}; use activations.exports.numbers"
