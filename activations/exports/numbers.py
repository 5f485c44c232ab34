"""How a number reads wherever a marketer sees it: the campaign report (tables and chart labels),
the export files' title rows and the run summary's KPI table. One rule, imported by each:

    count(12345)        -> "12,345"       people, messages, rows (thousands separators, no decimals)
    percent(0.1234)     -> "12.3%"        a share 0..1 (rates, KPI targets and actuals, match rates)
    points(0.0123)      -> "+1.2 pp"      a difference of two shares (lift), signed, in percentage points
    money(1234567.8)    -> "1,234,568"    an amount in the plan's currency, whole units
    number(v)           -> count for a whole number, else two decimals with separators

A missing value (None, NaN, pandas NA) is "" in every one of them.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

PERCENT_DECIMALS = 1


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN, pandas NA (NA != NA is NA, whose bool raises)
    except TypeError:
        return True


def count(v: Any) -> str:
    """A whole number of things, with thousands separators: 12,345."""
    if _missing(v):
        return ""
    return f"{round(float(v)):,}"


def percent(v: Any) -> str:
    """A share between 0 and 1 as a percentage with one decimal: 0.1234 -> 12.3%."""
    if _missing(v):
        return ""
    return f"{float(v) * 100:,.{PERCENT_DECIMALS}f}%"


def points(v: Any) -> str:
    """A difference of two shares in signed percentage points: 0.0123 -> +1.2 pp, -0.004 -> -0.4 pp."""
    if _missing(v):
        return ""
    text = f"{float(v) * 100:+,.{PERCENT_DECIMALS}f} pp"
    return "0.0 pp" if text in ("+0.0 pp", "-0.0 pp") else text


def money(v: Any) -> str:
    """An amount in whole currency units with thousands separators: 1234567.8 -> 1,234,568."""
    if _missing(v):
        return ""
    return f"{float(v):,.0f}"


def number(v: Any) -> str:
    """Any other table cell that is a number: whole numbers as counts, others with two decimals.
    Booleans and text are returned as text."""
    if _missing(v):
        return ""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return str(v)
    f = float(v)
    if math.isfinite(f) and f.is_integer():
        return count(f)
    return f"{f:,.2f}"
