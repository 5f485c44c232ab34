"""The default plan as a daily blast, for tests of the mechanics after entry (suppression, the
frequency cap, rendering, delivery, exports): every campaign `recurring` with
`reentry: {after_days: 1}`, so the whole segment is the audience of every run. Derived from the
shipped plan.yml at import by editing only the journey lines (never a copy: every other line,
and so every text replacement a test makes, stays as in plan.yml). Journeys themselves are
tested with the real plan in test_journeys.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

from activations.plan.spec import DEFAULT_PLAN_PATH, Plan, parse_plan

_DROPPED = ("    trigger:", "    reentry:", "    send_on:", "    first_send:")


def daily_plan_text(text: str | None = None) -> str:
    src = text if text is not None else DEFAULT_PLAN_PATH.read_text(encoding="utf-8")
    out: list[str] = []
    in_follow_ups = False
    for line in src.splitlines(keepends=True):
        if in_follow_ups and line.startswith("      - "):
            continue
        in_follow_ups = False
        if line.startswith("    follow_ups:"):
            in_follow_ups = True
            continue
        if line.startswith(_DROPPED):
            continue
        if line.startswith("    kind:"):
            out.append("    kind: recurring\n    reentry: {after_days: 1}\n")
            continue
        out.append(line)
    return "".join(out)


def daily_plan(text: str | None = None) -> Plan:
    return parse_plan(daily_plan_text(text), "daily-plan.yml")


DAILY_PLAN_PATH = Path(tempfile.mkdtemp(prefix="crmloop-daily-plan-")) / "plan.yml"
DAILY_PLAN_PATH.write_text(daily_plan_text(), encoding="utf-8")
