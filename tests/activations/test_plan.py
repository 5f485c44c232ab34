from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from activations.plan.spec import (
    DEFAULT_PLAN_PATH,
    PlanError,
    Segment,
    compile_segment,
    load_plan,
    parse_plan,
)

PLAN_PATH = DEFAULT_PLAN_PATH


def _default_text() -> str:
    return PLAN_PATH.read_text(encoding="utf-8")


def _line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_default_plan_matches_domain():
    plan = load_plan(PLAN_PATH)
    by_id = {c.id: c for c in plan.campaigns}
    assert list(by_id) == ["vip_party", "regular_winback", "new_thank_you", "prospect_welcome"]
    vip, reg, new, pro = by_id.values()
    assert vip.segment.rank == ["VIP"] and vip.channels == ["phone", "direct_mail"]
    assert (vip.kpi.metric, vip.kpi.target) == ("attend_rate", 0.20)
    assert reg.segment.rank == ["Regular"] and reg.channels == ["email"]
    cond = reg.segment.conditions[0]
    assert (cond.field, cond.op, cond.value) == ("days_since_last_order", ">", 120)
    assert (reg.kpi.metric, reg.kpi.target) == ("apply_rate", 0.15)
    assert new.channels == ["email"] and (new.kpi.metric, new.kpi.target) == ("open_rate", 0.30)
    assert pro.channels == ["email", "sms", "ads"] and (pro.kpi.metric, pro.kpi.target) == (
        "purchase_rate",
        0.10,
    )
    assert plan.frequency_cap.max_messages >= 1 and plan.frequency_cap.window_days == 7
    assert str(plan.sms.quiet_hours.start) == "21:00:00" and str(plan.sms.quiet_hours.end) == "08:00:00"
    for c in plan.campaigns:
        assert 0 <= c.holdout_share < 1 and c.start_date <= c.end_date
        for ch in c.channels:
            content = c.content[ch]
            for fname in ("subject", "text", "html", "body", "script", "letter"):
                loc = getattr(content, fname)
                if loc is not None:
                    assert any("\u0e00" <= x <= "\u0e7f" for x in loc.th), (c.id, ch, fname)
                    assert loc.en.strip()


def test_compile_segment_is_parameterised():
    plan = load_plan(PLAN_PATH)
    where, params = compile_segment(plan.campaign("regular_winback").segment)
    assert where == '("rank" IN (?)) AND ("days_since_last_order" > ?)'
    assert params == ["Regular", 120]
    seg = Segment.model_validate(
        {"rank": ["VIP", "Regular"], "conditions": [
            {"field": "province", "op": "in", "value": ["กรุงเทพมหานคร", "เชียงใหม่"]},
            {"field": "email", "op": "not_null"},
            {"field": "last_order_at", "op": ">=", "value": "2025-01-01"},
            {"field": "has_valid_email", "op": "=", "value": True},
        ]}
    )  # fmt: skip
    where, params = compile_segment(seg)
    assert '"province" IN (?, ?)' in where and '"email" IS NOT NULL' in where
    assert 'CAST("last_order_at" AS DATE) >= ?' in where
    assert len(params) == 2 + 2 + 1 + 1


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('{field: "rank; DROP TABLE marts.customer_profiles; --", op: "=", value: x}', "unknown field"),
        ('{field: days_since_last_order, op: "> 0 OR 1=1 --", value: 365}', "unknown operator"),
        ('{field: days_since_last_order, op: ">", value: "365 OR 1=1"}', "needs a whole number"),
        ('{field: province, op: ">", value: "x"}', "not allowed on str field"),
        ("{field: province, op: in, value: []}", "non-empty list"),
        ("{field: email, op: is_null, value: 1}", "takes no value"),
        ("{field: spend_3y, op: '>=', value: true}", "needs a number"),
        ("{field: last_order_at, op: '<', value: 'yesterday'}", "needs a date"),
    ],
)
def test_bad_conditions_are_rejected_with_line(condition, message):
    text = _default_text().replace('- {field: days_since_last_order, op: ">", value: 120}', f"- {condition}")
    line = _line_of(text, condition)
    with pytest.raises(PlanError) as err:
        parse_plan(text, "plan.yml")
    assert message in str(err.value)
    assert f"plan.yml:{line}:" in str(err.value)


def test_injection_in_rank_value_is_only_a_parameter(tmp_path: Path):
    # a literal that looks like SQL is data: it becomes a bound parameter, never SQL text
    seg = Segment.model_validate(
        {"rank": "VIP", "conditions": [{"field": "province", "op": "=", "value": "x' OR '1'='1"}]}
    )
    where, params = compile_segment(seg)
    assert "OR" not in where and params[-1] == "x' OR '1'='1"
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA marts; CREATE TABLE marts.customer_profiles (rank VARCHAR, province VARCHAR)")
    con.execute("INSERT INTO marts.customer_profiles VALUES ('VIP', 'เชียงใหม่')")
    assert con.execute(f"SELECT count(*) FROM marts.customer_profiles WHERE {where}", params).fetchall() == [
        (0,)
    ]
    con.close()
    with pytest.raises(PlanError, match="not a valid rank name"):
        parse_plan(_default_text().replace("rank: VIP", 'rank: "VIP\') OR 1=1 --"'), "plan.yml")


def test_errors_name_the_line():
    text = _default_text().replace("target: 0.15", "target: 1.5")
    with pytest.raises(PlanError) as err:
        parse_plan(text, "plan.yml")
    assert f"plan.yml:{_line_of(text, 'target: 1.5')}: campaigns.1.kpi.target" in str(err.value)

    text = _default_text().replace("channels: [email, sms, ads]", "channels: [email, sms, ads, fax]")
    with pytest.raises(PlanError) as err:
        parse_plan(text, "plan.yml")
    assert f"plan.yml:{_line_of(text, 'fax]')}:" in str(err.value)

    text = _default_text().replace("metric: open_rate", "metric: opens")
    with pytest.raises(PlanError) as err:
        parse_plan(text, "plan.yml")
    assert f"plan.yml:{_line_of(text, 'metric: opens')}: campaigns.2.kpi.metric" in str(err.value)


def test_yaml_syntax_and_structure_errors(tmp_path: Path):
    with pytest.raises(PlanError, match=r"plan.yml:3: not valid YAML"):
        parse_plan("version: 1\nsenders:\n\tx: 1\n", "plan.yml")
    with pytest.raises(PlanError, match="must be a mapping"):
        parse_plan("- 1\n- 2\n", "plan.yml")
    with pytest.raises(PlanError, match="cannot read the plan"):
        load_plan(tmp_path / "missing.yml")
    text = _default_text().replace("id: new_thank_you", "id: vip_party")
    with pytest.raises(PlanError, match="used twice"):
        parse_plan(text, "plan.yml")
    text = _default_text().replace(
        "    channels: [phone, direct_mail]", "    channels: [phone, direct_mail, email]"
    )
    with pytest.raises(PlanError, match="channel 'email' has no content"):
        parse_plan(text, "plan.yml")
    text = _default_text().replace("  max_messages: 3", "  max_messages: 3\n  max_per_day: 1")
    with pytest.raises(PlanError, match="Extra inputs are not permitted") as err:
        parse_plan(text, "plan.yml")
    assert f"plan.yml:{_line_of(text, 'max_per_day')}:" in str(err.value)


def test_template_errors_are_caught_at_load():
    text = _default_text().replace(
        'en: "{{ first_name }}, try our', 'en: "{{ first_name.__class__ }} {{ secret }}, try our'
    )
    with pytest.raises(PlanError) as err:
        parse_plan(text, "plan.yml")
    assert "unknown template variable(s) ['secret']" in str(err.value)
    assert f"plan.yml:{_line_of(text, '{{ secret }}')}:" in str(err.value)
    text = _default_text().replace('en: "{{ first_name }}, try our', 'en: "{{ first_name }, try our')
    with pytest.raises(PlanError, match="template syntax error"):
        parse_plan(text, "plan.yml")


def test_default_plan_is_a_calendar():
    plan = load_plan(PLAN_PATH)
    vip, reg, new, pro = (
        plan.campaign(c) for c in ("vip_party", "regular_winback", "new_thank_you", "prospect_welcome")
    )
    assert (new.kind, new.trigger.event, new.trigger.delay_days, new.reentry) == (
        "trigger",
        "first_order",
        1,
        "never",
    )
    assert new.trigger.entry_window_days <= 7
    assert (pro.kind, pro.trigger.event, pro.reentry, pro.first_channels) == (
        "trigger", "registration", "never", ["email", "ads"],
    )  # fmt: skip
    assert [(f.channel, f.to) for f in pro.follow_ups] == [("sms", "non_responders")]
    t = reg.trigger
    assert (reg.kind, t.event, reg.reentry_days()) == ("trigger", "threshold", 180)
    # the win-back enters on P(alive) falling below 0.5, or at the latest a year after the last order
    assert [(c.field, c.op, c.value, c.date_column()) for c in t.crossings()] == [
        ("p_alive", "<", 0.5, "p_alive_half_on"), ("days_since_last_order", ">", 365, "last_order_at"),
    ]  # fmt: skip
    assert vip.kind == "broadcast" and vip.send_on is not None and vip.channels == ["phone", "direct_mail"]
    assert [(f.after_days, f.channel, f.to) for f in vip.follow_ups] == [(7, "phone", "non_responders")]
    assert {"event_date", "rsvp_by", "place"} <= set(vip.variables)
    assert all(c.status == "active" for c in plan.campaigns)


def _vip_block_replace(old: str, new: str) -> str:
    text = _default_text()
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        (  # a follow-up on a channel the campaign does not use
            "- {after_days: 7, channel: phone, to: non_responders}",
            "- {after_days: 7, channel: email, to: non_responders}",
            "channel: email, to: non_responders",
            "follow_ups.0.channel: follow-up after 7 days on channel 'email', which the campaign does not use",
        ),
        (  # a trigger on an unknown event
            "trigger: {event: first_order,",
            "trigger: {event: first_purchase,",
            "event: first_purchase",
            "unknown trigger event 'first_purchase'",
        ),
        (  # recurring without reentry
            "    kind: trigger\n    trigger: {event: first_order, delay_days: 1, entry_window_days: 3}\n    reentry: never\n",
            "    kind: recurring\n",
            "kind: recurring",
            "a recurring campaign needs 'reentry'",
        ),
        (  # an unknown kind
            "    kind: broadcast\n",
            "    kind: blast\n",
            "kind: blast",
            "unknown campaign kind 'blast'",
        ),
        (  # a broadcast without its date
            "    send_on: 2026-12-01\n",
            "",
            "kind: broadcast",
            "a broadcast campaign needs 'send_on'",
        ),
        (  # a broadcast date outside the campaign's dates
            "    send_on: 2026-12-01\n",
            "    send_on: 2031-01-05\n",
            "send_on: 2031-01-05",
            "send_on 2031-01-05 is outside start_date",
        ),
        (  # a threshold the warehouse cannot date
            'field: days_since_last_order, op: ">", value: 365}], delay_days',
            'field: spend_3y, op: ">", value: 365}], delay_days',
            "field: spend_3y",
            "threshold on 'spend_3y'",
        ),
        (  # a window shorter than the delay: nobody could ever enter
            "{event: first_order, delay_days: 1, entry_window_days: 3}",
            "{event: first_order, delay_days: 5, entry_window_days: 3}",
            "delay_days: 5",
            "entry_window_days 3 is shorter than delay_days 5",
        ),
        (  # rank_change needs the rank
            "{event: first_order, delay_days: 1, entry_window_days: 3}",
            "{event: rank_change, delay_days: 1, entry_window_days: 3}",
            "event: rank_change",
            "trigger event 'rank_change' needs to",
        ),
        (  # a response trigger on a campaign that does not exist
            "{event: first_order, delay_days: 1, entry_window_days: 3}",
            "{event: response, campaign: vip_gala, delay_days: 1, entry_window_days: 3}",
            "campaign: vip_gala",
            "trigger on unknown campaign 'vip_gala'",
        ),
        (  # a channel that is neither sent first nor followed up
            "    first_send: [email, ads]\n    follow_ups:\n      - {after_days: 3, channel: sms, to: non_responders}\n",
            "    first_send: [email, ads]\n",
            "channels: [email, sms, ads]",
            "channel(s) ['sms'] are neither in first_send nor in a follow-up",
        ),
        (  # a template variable that would hide a profile field
            '      place: "The Grand Riverside Hotel, Bangkok"\n',
            '      place: "The Grand Riverside Hotel, Bangkok"\n      province: "x"\n',
            "      variables:",
            "variables ['province'] would hide a profile field",
        ),
        (  # a follow-up to an unknown group
            "channel: phone, to: non_responders}",
            "channel: phone, to: everybody}",
            "to: everybody",
            "unknown follow-up target ('to') 'everybody'; allowed: non_responders, all",
        ),
    ],
)
def test_journey_rules_are_validated_with_lines(old, new, needle, message):
    text = _vip_block_replace(old, new)
    with pytest.raises(PlanError) as err:
        parse_plan(text, "plan.yml")
    assert message in str(err.value)
    line = next(
        i
        for i, ln in enumerate(text.splitlines(), start=1)
        if needle.strip() in ln and not ln.startswith("#")
    )
    assert f"plan.yml:{line}:" in str(err.value)
