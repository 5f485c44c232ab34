"""SignupDrive: a share of the prospects registers on a few recent days (crmloop demo's sign-up fair)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from crmloop.demo_data.generate import SignupDrive, _day, demo_calendar
from crmloop.demo_data.people import PROSPECT, make_people
from crmloop.demo_data.pools import draw_pools

AS_OF = date(2026, 11, 21)
CAL = demo_calendar(AS_OF)


def _people(n: int = 5000):
    return make_people(np.random.default_rng(7), n, CAL, draw_pools(7))


def test_the_drive_moves_exactly_its_share_of_prospects_onto_its_days_and_nobody_else():
    before, after = _people(), _people()
    first, last = AS_OF - timedelta(days=6), AS_OF
    moved = SignupDrive(first, last, 0.25).apply(after, CAL, np.random.default_rng(1))
    prospects = before.rank == PROSPECT
    changed = before.first_seen != after.first_seen
    on_drive = (after.first_seen >= _day(first)) & (after.first_seen <= _day(last))
    assert moved == round(0.25 * prospects.sum())
    # buyers keep their history; the chosen prospects all register on the drive's days
    assert not changed[~prospects].any()
    assert (on_drive & prospects).sum() >= moved
    assert on_drive[changed].all()
    # without a drive, hardly any prospect registers in one given week of a four-year history
    assert (
        (before.first_seen >= _day(first)) & (before.first_seen <= _day(last)) & prospects
    ).sum() < moved / 10


@pytest.mark.parametrize(
    "first, last, share",
    [(AS_OF, AS_OF - timedelta(days=1), 0.1), (AS_OF, AS_OF + timedelta(days=1), 0.1), (AS_OF, AS_OF, 1.5)],
)
def test_a_drive_after_as_of_backwards_or_over_everyone_is_refused(first, last, share):
    with pytest.raises(ValueError, match="SignupDrive"):
        SignupDrive(first, last, share).apply(_people(200), CAL, np.random.default_rng(1))


def _plan_with(tmp_path, old: str, new: str):
    from activations.plan.spec import DEFAULT_PLAN_PATH

    text = DEFAULT_PLAN_PATH.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "plan.yml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


WELCOME_TRIGGER = "trigger: {event: registration, delay_days: 1, entry_window_days: 7}"


def test_the_demo_drive_falls_on_the_days_the_plans_welcome_admits(tmp_path):
    """crmloop demo's drive follows the registration trigger's window, not a fixed week."""
    from crmloop.runner import signup_drive_days

    send = date(2026, 11, 2)
    plan = _plan_with(
        tmp_path, WELCOME_TRIGGER, "trigger: {event: registration, delay_days: 2, entry_window_days: 10}"
    )
    assert signup_drive_days(plan, send) == (date(2026, 10, 23), date(2026, 10, 31))
    no_welcome = _plan_with(
        tmp_path, WELCOME_TRIGGER, "trigger: {event: first_order, delay_days: 1, entry_window_days: 7}"
    )
    assert signup_drive_days(no_welcome, send) is None
