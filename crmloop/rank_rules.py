"""The rank rule set for Python callers: read from dbt's seed, never restated.

The rules are data (`dbt_project/seeds/rank_rules.csv`, documented in `rank_rules.yml`): the
warehouse applies them in `marts/profiles_and_ranks/customer_ranks.sql`; the demo generator (its latent truth), the
calibration tests and the benchmark's floor query read the same file through this module, so a
user who edits the seed changes every one of them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED_PATH = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / "rank_rules.csv"
CONDITIONS = ("spend_or_orders", "spend_and_orders", "purchased_ever", "always")


@dataclass(frozen=True)
class RankRule:
    rule_order: int
    rank: str
    rule_condition: str
    min_spend: float | None
    min_orders: int | None
    window_months: int


def load_rank_rules(path: Path | str = SEED_PATH) -> list[RankRule]:
    """The rules in evaluation order (top-down by rule_order; the first match wins)."""
    rules = []
    with open(path, newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            if row["rule_condition"] not in CONDITIONS:
                raise ValueError(f"{path}:{i}: rule_condition {row['rule_condition']!r} not in {CONDITIONS}")
            rules.append(
                RankRule(
                    rule_order=int(row["rule_order"]),
                    rank=row["rank"],
                    rule_condition=row["rule_condition"],
                    min_spend=float(row["min_spend"]) if row["min_spend"] else None,
                    min_orders=int(row["min_orders"]) if row["min_orders"] else None,
                    window_months=int(row["window_months"]),
                )
            )
    return sorted(rules, key=lambda r: r.rule_order)


def _matches(rule: RankRule, spend, orders, ever) -> np.ndarray:
    spend, orders, ever = np.asarray(spend, dtype=float), np.asarray(orders), np.asarray(ever)
    has_spend = spend >= rule.min_spend if rule.min_spend is not None else None
    has_orders = orders >= rule.min_orders if rule.min_orders is not None else None
    false = np.zeros(spend.shape, dtype=bool)
    if rule.rule_condition == "spend_or_orders":
        return (has_spend if has_spend is not None else false) | (
            has_orders if has_orders is not None else false
        )
    if rule.rule_condition == "spend_and_orders":
        return (has_spend if has_spend is not None else ~false) & (
            has_orders if has_orders is not None else ~false
        )
    if rule.rule_condition == "purchased_ever":
        return ever > 0
    return ~false


def assign_ranks(spend, orders, ever, rules: list[RankRule] | None = None) -> np.ndarray:
    """Rank names per person from window spend, window orders and lifetime orders (arrays).

    One window is assumed (every rule's window_months equal, as in the default rule set); a rule set
    with several windows needs per-window figures, which only the warehouse computes."""
    rules = rules if rules is not None else load_rank_rules()
    if len({r.window_months for r in rules}) > 1:
        raise ValueError("assign_ranks takes one window; this rule set has several (use the warehouse)")
    conditions = [_matches(r, spend, orders, ever) for r in rules]
    return np.select(conditions, [r.rank for r in rules], default="")


def window_months(rules: list[RankRule] | None = None) -> int:
    """The single window of a one-window rule set (months before the as-of date)."""
    months = {r.window_months for r in (rules if rules is not None else load_rank_rules())}
    if len(months) != 1:
        raise ValueError(f"rule set has windows {sorted(months)}; expected one")
    return months.pop()


def rank_case_sql(spend: str, orders: str, ever: str, rules: list[RankRule] | None = None) -> str:
    """The rule set as a SQL CASE over three column expressions (for hand-written floor queries)."""
    whens = []
    for r in rules if rules is not None else load_rank_rules():
        s = f"{spend} >= {r.min_spend}" if r.min_spend is not None else None
        o = f"{orders} >= {r.min_orders}" if r.min_orders is not None else None
        if r.rule_condition == "spend_or_orders":
            cond = " or ".join(x for x in (s, o) if x) or "false"
        elif r.rule_condition == "spend_and_orders":
            cond = " and ".join(x for x in (s, o) if x) or "true"
        elif r.rule_condition == "purchased_ever":
            cond = f"{ever} > 0"
        else:
            cond = "true"
        whens.append(f"when {cond} then '{r.rank}'")
    return "case " + " ".join(whens) + " end"
