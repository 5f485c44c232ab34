from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from activations.audiences.messages import Message, MessageList, send_id_for
from activations.audiences.prepare import prepare_messages
from activations.plan.spec import load_plan
from tests.activations.plan_fixture import DAILY_PLAN_PATH
from tests.activations.profiles_fixture import AS_OF, standard_rows, write_profiles

PLAN_PATH = DAILY_PLAN_PATH  # the mechanics after entry; journeys: test_journeys.py
SEND = date(2026, 11, 22)
BKK = ZoneInfo("Asia/Bangkok")


def test_message_list_sequence_behaviour():
    made = []

    def render(start: int, stop: int) -> list[Message]:
        made.append((start, stop))
        return [Message("c", f"C{i}", "email", SEND, f"c{i}@x.th") for i in range(start, stop)]

    ml = MessageList(5, render, chunk=2)
    assert len(ml) == 5 and bool(ml) and repr(ml) == "MessageList(len=5)"
    assert [m.customer_id for m in ml] == ["C0", "C1", "C2", "C3", "C4"]
    assert made == [(0, 2), (2, 4), (4, 5)]  # rendered in chunks
    assert ml[0].customer_id == "C0" and ml[-1].customer_id == "C4"
    assert [m.customer_id for m in ml[1:3]] == ["C1", "C2"] and ml[3:1] == []
    assert [m.customer_id for m in ml[::2]] == ["C0", "C2", "C4"]
    with pytest.raises(IndexError):
        ml[5]
    assert not MessageList(0, render)


def test_prepared_messages_are_deterministic_and_complete(tmp_path: Path):
    wh = write_profiles(tmp_path / "w.duckdb", standard_rows(20))
    now = datetime(2026, 11, 22, 10, 0, tzinfo=BKK)
    a = prepare_messages(wh, PLAN_PATH, AS_OF, SEND, now)
    b = prepare_messages(wh, PLAN_PATH, AS_OF, SEND, now)
    first = list(a.messages())
    assert first == list(b.messages()) == list(a.messages())  # rerun and re-iteration: identical
    keys = [m.key for m in first]
    assert len(keys) == len(set(keys))
    # complete: every campaign x channel of the plan rendered messages, as many as it has eligible
    plan_pairs = {(c.id, ch) for c in load_plan(PLAN_PATH).campaigns for ch in c.channels}
    assert {(m.campaign_id, m.channel) for m in first} == plan_pairs
    assert len(first) == sum(b.eligible for b in a.batches()) >= 5 * len(plan_pairs)
    for m in first:
        assert m.send_id == send_id_for(*m.key) == m.custom_args["send_id"]
        assert m.custom_args == {
            "campaign_id": m.campaign_id,
            "send_id": m.send_id,
            "customer_id": m.customer_id,
            "channel": m.channel,
            "send_date": "2026-11-22",
        }
        if m.channel == "email":
            assert m.subject and m.text and m.html and m.sender == "crm@crmloop-store.example"
            assert m.to == m.fields["email"]
        elif m.channel == "sms":
            assert m.sms_body and m.sms_segments >= 1 and m.sms_encoding in ("GSM-7", "UCS-2")
            assert m.to.startswith("+66") and m.not_before is None  # 10:00 Bangkok: not quiet hours
        elif m.channel == "direct_mail":
            assert m.text and m.fields["postal_code"] in m.to and m.fields["address"] in m.to
        elif m.channel == "phone":
            assert m.text and m.to == m.fields["phone"]
        elif m.channel == "ads":
            assert m.subject == "crmloop-prospect-welcome" and m.fields["country"] == "TH"
    meta = a.metadata()
    assert meta["send_date"] == "2026-11-22" and set(meta["campaigns"]) == {
        "vip_party", "regular_winback", "new_thank_you", "prospect_welcome",
    }  # fmt: skip
    sms = a.campaigns["prospect_welcome"].channels["sms"]
    assert sms.metadata()["estimated_cost"] == round(sms.sms_segments * 0.35, 2)
