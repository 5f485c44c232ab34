from __future__ import annotations

from datetime import date

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from activations.plan.spec import DEFAULT_PLAN_PATH, PlanError, load_plan, parse_plan
from activations.plan.templates import CampaignRenderer, pick_language, sms_cost, sms_segments

PLAN_PATH = DEFAULT_PLAN_PATH


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension characters cost two septets: 160
        ("€" * 81, "GSM-7", 2),
        ("ก" * 70, "UCS-2", 1),
        ("ก" * 71, "UCS-2", 2),
        ("ก" * 134, "UCS-2", 2),
        ("ก" * 135, "UCS-2", 3),
        ("a" * 69 + "ข", "UCS-2", 1),  # one Thai letter makes the whole message UCS-2
        ("a" * 70 + "ข", "UCS-2", 2),
        ("😀" * 35, "UCS-2", 1),  # astral characters are two UTF-16 units
        ("😀" * 36, "UCS-2", 2),
    ],
)
def test_sms_segments(text, encoding, segments):
    count = sms_segments(text)
    assert count.segments == segments
    if text:
        assert count.encoding == encoding


def test_sms_cost():
    assert sms_cost(3, 0.35) == pytest.approx(1.05)
    assert sms_cost(0, 0.35) == 0


def test_render_thai_and_english():
    plan = load_plan(PLAN_PATH)
    r = CampaignRenderer(plan, plan.campaign("prospect_welcome"), date(2026, 11, 22))
    th = r.render("email", {"first_name": "สมหญิง", "last_name": "ใจดี"})
    assert th["language"] == "th"
    assert th["subject"] == "ยินดีต้อนรับคุณสมหญิง รับของขวัญฟรีเมื่อซื้อครั้งแรก"
    assert "สวัสดีคุณสมหญิง" in th["text"] and "<p>สวัสดีคุณสมหญิง</p>" in th["html"]
    en = r.render("email", {"first_name": "Anna", "last_name": "Smith"})
    assert en["language"] == "en" and en["subject"].startswith("Welcome Anna")
    sms = r.render("sms", {"first_name": "สมชาย"})
    assert "STOP" in sms["body"] and "สมชาย" in sms["body"] and "\n" not in sms["body"]
    assert pick_language(plan, None) == plan.language.default == "th"


def test_html_escapes_profile_values_text_does_not():
    plan = load_plan(PLAN_PATH)
    r = CampaignRenderer(plan, plan.campaign("new_thank_you"), date(2026, 11, 22))
    out = r.render("email", {"first_name": "<b>Bob & Co</b>", "next_best_category": None}, language="en")
    assert "&lt;b&gt;Bob &amp; Co&lt;/b&gt;" in out["html"]
    assert "<b>Bob & Co</b>" in out["text"]


def test_missing_variable_fails_strictly_and_none_renders_empty():
    plan = load_plan(PLAN_PATH)
    r = CampaignRenderer(plan, plan.campaign("vip_party"), date(2026, 11, 22))
    with pytest.raises(UndefinedError):
        r.render("direct_mail", {"first_name": "สมชาย"})  # no last_name in the context
    out = r.render("direct_mail", {"first_name": "สมชาย", "last_name": None}, language="th")
    assert out["letter"].startswith("เรียน คุณสมชาย \n")
    assert "None" not in out["letter"]


def test_sandbox_blocks_unsafe_attribute_access():
    text = (PLAN_PATH.read_text(encoding="utf-8")).replace(
        'en: "{{ first_name }}, try our new product free"',
        'en: "{{ first_name.__class__.__mro__ }} try our new product free"',
    )
    with pytest.raises(PlanError, match="template fails on sample values: SecurityError"):
        parse_plan(text, "plan.yml")  # caught when the plan loads, with its line
    plan = load_plan(PLAN_PATH)
    camp = plan.campaign("regular_winback")
    r = CampaignRenderer(plan, camp, date(2026, 11, 22))
    unsafe = r.templates[("email", "subject", "en")].environment.from_string(
        "{{ first_name.__class__.__mro__ }}"
    )
    r.templates[("email", "subject", "en")] = unsafe  # the renderer's own environment is sandboxed too
    with pytest.raises(SecurityError):
        r.render("email", {"first_name": "Anna"}, language="en")


def test_subject_is_one_line():
    text = PLAN_PATH.read_text(encoding="utf-8").replace(
        'en: "{{ first_name }}, try our new product free"',
        'en: "{{ first_name }}, try\\nour\\r\\nnew product"',
    )
    plan = parse_plan(text, "plan.yml")
    r = CampaignRenderer(plan, plan.campaign("regular_winback"), date(2026, 11, 22))
    out = r.render("email", {"first_name": "Anna\r\nBcc: x@evil.example"}, language="en")
    assert "\n" not in out["subject"] and "\r" not in out["subject"]


def test_dates_and_missing_values_in_context():
    import math

    import pandas as pd

    from activations.plan.templates import _clean

    assert _clean(pd.Timestamp("2026-10-01 10:00")) == date(2026, 10, 1)
    assert _clean(pd.NaT) == "" and _clean(None) == "" and _clean(math.nan) == ""
    assert _clean(date(2026, 1, 2)) == date(2026, 1, 2) and _clean(3) == 3 and _clean("x") == "x"


def test_thank_you_suggests_the_next_best_category_and_skips_it_when_null():
    plan = load_plan(PLAN_PATH)
    r = CampaignRenderer(plan, plan.campaign("new_thank_you"), date(2026, 11, 22))
    en = r.render("email", {"first_name": "Anna", "next_best_category": "aircon"}, language="en")
    assert "\nYou may also like: aircon\ncrmloop Store" in en["text"]
    assert "<p>You may also like: aircon</p><p>crmloop Store</p>" in en["html"]
    th = r.render("email", {"first_name": "สมหญิง", "next_best_category": "aircon"}, language="th")
    assert "\nสินค้าที่คุณอาจสนใจ: aircon\ncrmloop Store" in th["text"]
    assert "<p>สินค้าที่คุณอาจสนใจ: aircon</p>" in th["html"]
    ends = {
        "th": "ดูแลรักษาสินค้าของคุณให้ใช้ได้นาน\ncrmloop Store",
        "en": "caring for your purchase.\ncrmloop Store",
    }
    for lang, end in ends.items():  # a person who bought every category: no suggestion, no "None"
        out = r.render("email", {"first_name": "Anna", "next_best_category": None}, language=lang)
        assert out["text"].endswith(end)
        assert "None" not in out["text"] + out["html"]
        assert "อาจสนใจ" not in out["text"] + out["html"]
        assert "may also like" not in out["text"] + out["html"]
