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
    assert (cond.field, cond.op, cond.value) == ("days_since_last_order", ">", 365)
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
    assert params == ["Regular", 365]
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
    text = _default_text().replace('- {field: days_since_last_order, op: ">", value: 365}', f"- {condition}")
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
