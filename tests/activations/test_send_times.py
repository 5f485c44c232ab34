"""Send times per person (activations/audiences/send_times.py): the plan's `send_time`, the
person's best hour, the control arm, the clock and SMS quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from activations.audiences.build import expand_audience
from activations.audiences.send_times import (
    next_at,
    planned_time,
    scheduled_send,
    scheduled_sends,
    send_time_arm,
)
from activations.audiences.suppression import apply_suppression
from activations.plan.spec import PlanError, parse_plan
from tests.activations.plan_fixture import daily_plan_text
from tests.activations.profiles_fixture import AS_OF, profile

BKK = ZoneInfo("Asia/Bangkok")
SEND = datetime(2026, 11, 22).date()
TWO_AM = datetime(2026, 11, 22, 2, 0, tzinfo=BKK)  # the daily run's clock (send_clock of a replay)


def _text_without_send_times() -> str:
    """The daily plan without the shipped plan's send_time lines (each test sets its own)."""
    lines = daily_plan_text().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("    send_time"))


def _plan(**campaign_lines: str):
    """The daily plan with lines added under a campaign (`campaign_id='    send_time: ...'`)."""
    text = _text_without_send_times()
    for cid, lines in campaign_lines.items():
        anchor = f"  - id: {cid}\n"
        assert anchor in text
        text = text.replace(anchor, anchor + lines)
    return parse_plan(text, "plan.yml")


def test_next_at_is_today_unless_passed():
    assert next_at(time(19), TWO_AM, "Asia/Bangkok") == datetime(2026, 11, 22, 19, 0, tzinfo=BKK)
    assert next_at(time(2), TWO_AM, "Asia/Bangkok") == datetime(2026, 11, 22, 2, 0, tzinfo=BKK)
    assert next_at(time(1, 30), TWO_AM, "Asia/Bangkok") == datetime(2026, 11, 23, 1, 30, tzinfo=BKK)
    utc = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # 19:00 in Bangkok
    assert next_at(time(18), utc, "Asia/Bangkok") == datetime(2026, 11, 23, 18, 0, tzinfo=BKK)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_at(time(10), datetime(2026, 11, 22, 2, 0), "Asia/Bangkok")


def test_unset_send_time_keeps_sending_at_once():
    plan = _plan()
    c = plan.campaign("new_thank_you")
    assert c.send_time is None and planned_time(c, None, 19) is None
    assert scheduled_send(c, "email", None, 19, TWO_AM, plan) is None


def test_fixed_and_personal_send_times():
    plan = _plan(
        new_thank_you='    send_time: "09:30"\n',
        regular_winback="    send_time: personal\n",
        prospect_welcome="    send_time: personal\n",
    )
    fixed, personal = plan.campaign("new_thank_you"), plan.campaign("regular_winback")
    assert scheduled_send(fixed, "email", None, 19, TWO_AM, plan) == datetime(2026, 11, 22, 9, 30, tzinfo=BKK)
    assert send_time_arm(personal, "C1") == "personal" and send_time_arm(fixed, "C1") is None
    assert scheduled_send(personal, "email", "personal", 19, TWO_AM, plan) == datetime(
        2026, 11, 22, 19, 0, tzinfo=BKK
    )
    # an hour already past at the run's clock: the same hour tomorrow (well inside SendGrid's 72 h)
    assert scheduled_send(personal, "email", "personal", 0, TWO_AM, plan) == datetime(
        2026, 11, 23, 0, 0, tzinfo=BKK
    )
    # the ad audience is a list: no send time
    welcome = plan.campaign("prospect_welcome")
    assert scheduled_send(welcome, "ads", "personal", 19, TWO_AM, plan) is None
    with pytest.raises(ValueError, match="best_send_hour"):
        planned_time(personal, "personal", None)
    with pytest.raises(ValueError, match="best_send_hour"):
        planned_time(personal, "personal", 24)


def test_sms_quiet_hours_win_over_the_personal_hour():
    plan = _plan(prospect_welcome="    send_time: personal\n")  # quiet hours 21:00-08:00
    c = plan.campaign("prospect_welcome")
    at = lambda hour: scheduled_send(c, "sms", "personal", hour, TWO_AM, plan)  # noqa: E731
    assert at(14) == datetime(2026, 11, 22, 14, 0, tzinfo=BKK)
    assert at(22) == datetime(2026, 11, 23, 8, 0, tzinfo=BKK)  # inside quiet hours: when they end
    assert at(5) == datetime(2026, 11, 22, 8, 0, tzinfo=BKK)
    assert at(8) == datetime(2026, 11, 22, 8, 0, tzinfo=BKK)
    # the email of the same person goes at their hour, quiet hours are for SMS
    assert scheduled_send(c, "email", "personal", 22, TWO_AM, plan) == datetime(
        2026, 11, 22, 22, 0, tzinfo=BKK
    )
    # without a send time an SMS of the 02:00 run still waits for the end of quiet hours
    plain = _plan()
    assert scheduled_send(plain.campaign("prospect_welcome"), "sms", None, None, TWO_AM, plain) == datetime(
        2026, 11, 22, 8, 0, tzinfo=BKK
    )


def test_control_arm_is_a_stable_share_independent_of_the_holdout():
    plan = _plan(
        regular_winback='    send_time: personal\n    send_time_control: {share: 0.3, at: "10:00"}\n'
    )
    c = plan.campaign("regular_winback")
    ids = [f"C{i:05d}" for i in range(4000)]
    arms = [send_time_arm(c, i) for i in ids]
    assert arms == [send_time_arm(c, i) for i in ids]  # the same every run
    control = {i for i, a in zip(ids, arms, strict=True) if a == "control"}
    assert set(arms) == {"personal", "control"}
    assert 0.27 < len(control) / len(ids) < 0.33
    # the holdout (10 %) is drawn apart: the control share among the held out is still about 30 %
    audience = expand_audience(pd.DataFrame([profile(i, "Regular") for i in ids]), c, AS_OF, SEND)
    held = set(audience.loc[audience["holdout"], "customer_id"])
    assert 300 < len(held) < 500
    assert 0.22 < len(held & control) / len(held) < 0.38
    # the control arm goes at the control's time; the personal arm at the person's hour
    assert scheduled_send(c, "email", "control", 19, TWO_AM, plan) == datetime(
        2026, 11, 22, 10, 0, tzinfo=BKK
    )
    assert scheduled_send(c, "email", "personal", 19, TWO_AM, plan) == datetime(
        2026, 11, 22, 19, 0, tzinfo=BKK
    )
    at_once = _plan(regular_winback="    send_time: personal\n    send_time_control: {share: 0.3}\n")
    assert (
        scheduled_send(at_once.campaign("regular_winback"), "email", "control", 19, TWO_AM, at_once) is None
    )


def test_audience_records_the_arm_and_the_holdout_has_none():
    plan = _plan(prospect_welcome="    send_time: personal\n    send_time_control: {share: 0.5}\n")
    c = plan.campaign("prospect_welcome")
    ids = [f"C{i:05d}" for i in range(400)]
    audience = expand_audience(pd.DataFrame([profile(i, "Prospect") for i in ids]), c, AS_OF, SEND)
    assert set(audience.loc[audience["holdout"], "send_time_arm"].tolist()) == {None}
    sent = audience.loc[~audience["holdout"]]
    assert set(sent.loc[sent["channel"] == "ads", "send_time_arm"].tolist()) == {None}
    for ch in ("email", "sms"):
        assert set(sent.loc[sent["channel"] == ch, "send_time_arm"]) == {"personal", "control"}
    email = sent[sent["channel"] == "email"].set_index("customer_id")["send_time_arm"]
    sms = sent[sent["channel"] == "sms"].set_index("customer_id")["send_time_arm"]
    assert email.equals(sms.loc[email.index])  # a person is in one arm on every channel
    plain = expand_audience(
        pd.DataFrame([profile("C1", "Prospect")]), _plan().campaign("prospect_welcome"), AS_OF, SEND
    )
    assert plain["send_time_arm"].isna().all()


def test_suppression_gives_each_eligible_message_its_time():
    plan = _plan(
        new_thank_you="    send_time: personal\n",
        prospect_welcome='    send_time: "11:15"\n',
    )
    rows = [
        profile("C00001", "New", best_send_hour=19),
        profile("C00002", "New", best_send_hour=1),
        profile("C00003", "Prospect", best_send_hour=19),
    ]
    prof = pd.DataFrame(rows)
    audience = pd.concat(
        [
            expand_audience(prof.iloc[:2], plan.campaign("new_thank_you"), AS_OF, SEND),
            expand_audience(prof.iloc[2:], plan.campaign("prospect_welcome"), AS_OF, SEND),
        ],
        ignore_index=True,
    )
    audience["holdout"] = False
    result = apply_suppression(audience, prof, plan, SEND, TWO_AM)
    got = {(r.campaign_id, r.customer_id, r.channel): r.not_before for r in result.eligible.itertuples()}
    assert got[("new_thank_you", "C00001", "email")] == datetime(2026, 11, 22, 19, 0, tzinfo=BKK)
    assert got[("new_thank_you", "C00002", "email")] == datetime(2026, 11, 23, 1, 0, tzinfo=BKK)
    assert got[("prospect_welcome", "C00003", "email")] == datetime(2026, 11, 22, 11, 15, tzinfo=BKK)
    assert got[("prospect_welcome", "C00003", "sms")] == datetime(2026, 11, 22, 11, 15, tzinfo=BKK)
    assert got[("prospect_welcome", "C00003", "ads")] is None


def test_personal_send_time_needs_the_profile_hour():
    plan = _plan(new_thank_you="    send_time: personal\n")
    eligible = pd.DataFrame(
        {
            "campaign_id": ["new_thank_you"],
            "customer_id": ["C1"],
            "channel": ["email"],
            "send_time_arm": ["personal"],
        }
    )
    with pytest.raises(LookupError, match="best_send_hour"):
        scheduled_sends(eligible, plan, TWO_AM)


@pytest.mark.parametrize(
    ("lines", "needle", "message"),
    [
        ('    send_time: "25:00"\n', "25:00", "send_time must be 'personal' or a time"),
        ("    send_time: tonight\n", "tonight", "send_time must be 'personal' or a time"),
        (
            '    send_time: "10:00"\n    send_time_control: {share: 0.5}\n',
            "send_time_control: {share: 0.5}",
            "splits a campaign",
        ),
        ("    send_time: personal\n    send_time_control: {share: 1.5}\n", "share: 1.5", "less than 1"),
    ],
)
def test_bad_send_times_are_rejected_with_line(lines, needle, message):
    text = _text_without_send_times()
    text = text.replace("  - id: new_thank_you\n", "  - id: new_thank_you\n" + lines)
    line = next(i for i, t in enumerate(text.splitlines(), start=1) if needle in t)
    with pytest.raises(PlanError, match=message) as err:
        parse_plan(text, "plan.yml")
    assert f"plan.yml:{line}:" in str(err.value)


def test_unset_send_time_keeps_the_content_hash():
    """Approvals of campaigns without a send time stay valid (vip_party's hash as computed before
    send_time existed); setting one changes what is approved."""
    from activations.plan.spec import DEFAULT_PLAN_PATH, load_plan

    vip = load_plan(DEFAULT_PLAN_PATH).campaign("vip_party")
    assert vip.content_hash() == "ba07744a86eec1daf938b2dc4e479fe97b976354672911f352724cd701012f19"
    before = _plan().campaign("new_thank_you").content_hash()
    after = _plan(new_thank_you="    send_time: personal\n").campaign("new_thank_you").content_hash()
    assert after != before


def test_default_plan_sends_the_thank_you_and_win_back_at_personal_times_with_a_control():
    from activations.plan.spec import DEFAULT_PLAN_PATH, load_plan

    plan = load_plan(DEFAULT_PLAN_PATH)
    for cid in ("new_thank_you", "regular_winback"):
        c = plan.campaign(cid)
        assert c.send_time == "personal"
        assert (c.send_time_control.share, c.send_time_control.at) == (0.5, time(10, 0))
    assert plan.campaign("prospect_welcome").send_time is None


def test_prepared_messages_and_the_audience_snapshot_carry_the_send_times(tmp_path):
    """The shipped plan end to end through prepare_messages: the thank-you email (send_time
    personal, half at 10:00) goes at each person's best hour or at 10:00 by the arm recorded in
    activations.campaign_audience_snapshots; the welcome email (no send_time) at once."""
    import duckdb

    from activations.audiences.prepare import prepare_messages
    from activations.audiences.tables import AUDIENCE_SNAPSHOTS_TABLE
    from tests.activations.plan_fixture import DAILY_PLAN_PATH
    from tests.activations.profiles_fixture import standard_rows, write_profiles

    rows = standard_rows(40)
    hours = {r["customer_id"]: r["best_send_hour"] for r in rows}
    wh = write_profiles(tmp_path / "w.duckdb", rows)
    now = datetime(2026, 11, 22, 2, 0, tzinfo=BKK)
    prepared = prepare_messages(wh, DAILY_PLAN_PATH, AS_OF, SEND, now)
    con = duckdb.connect(str(wh), read_only=True)
    try:
        arms = dict(
            con.execute(
                f"select customer_id, send_time_arm from {AUDIENCE_SNAPSHOTS_TABLE} "
                "where campaign_id = 'new_thank_you' and send_date = ? and not holdout",
                [SEND],
            ).fetchall()
        )
    finally:
        con.close()
    thanks = list(prepared.campaigns["new_thank_you"].channels["email"].messages)
    assert len(thanks) >= 30 and set(arms.values()) == {"personal", "control"}
    for m in thanks:
        expected = time(10) if arms[m.customer_id] == "control" else time(hours[m.customer_id])
        assert m.not_before == datetime.combine(SEND, expected, tzinfo=BKK), m.customer_id
    assert {m.not_before for m in prepared.campaigns["prospect_welcome"].channels["email"].messages} == {None}
