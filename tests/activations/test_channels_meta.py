"""Meta Custom Audience sync against the fake Graph API: 10,000-row batches, sessions, diffs."""

from __future__ import annotations

import json

import pytest

from activations.channels.meta import MetaAudienceClient, diff_audience, session_payloads, sync_meta_audience
from activations.delivery.ledger import SendLedger
from tests.activations.delivery_helpers import email_messages, live_config
from tests.fakes.providers import FakeMeta


@pytest.fixture
def meta():
    with FakeMeta(access_token="meta-token") as fake:
        yield fake


def test_diff_and_session_payloads_are_pure():
    d = diff_audience({"a": ["1"], "b": ["2"], "c": ["9"]}, {"a": ["1"], "c": ["3"], "z": ["4"]})
    assert (
        d.add == [("b", ["2"]), ("c", ["9"])]
        and d.remove == [("c", ["3"]), ("z", ["4"])]
        and d.unchanged == 1
    )
    forms = session_payloads([["h"]] * 25_001, session_id=77)
    sessions = [f["session"] for f in forms]
    assert [len(f["payload"]["data"]) for f in forms] == [10_000, 10_000, 5_001]
    json.dumps(forms[0])  # JSON-serialisable as sent
    assert [s["batch_seq"] for s in sessions] == [1, 2, 3]
    assert [s["last_batch_flag"] for s in sessions] == [False, False, True]
    assert {s["session_id"] for s in sessions} == {77} and sessions[0]["estimated_num_total"] == 25_001


def test_sync_batches_of_10000_then_diff_adds_and_removes(tmp_path, meta):
    cfg = live_config(tmp_path, meta=meta)
    ledger = SendLedger(cfg.warehouse_path)
    client = MetaAudienceClient(cfg)
    try:
        first = sync_meta_audience(email_messages(10_050), "aud1", client, ledger)
        assert first.added == 10_050 and first.removed == 0
        assert [c["rows"] for c in meta.calls] == [10_000, 50]
        assert len({c["session"]["session_id"] for c in meta.calls}) == 1
        assert meta.calls[-1]["session"]["last_batch_flag"] is True
        assert len(meta.members["aud1"]) == 10_050
        # next day: 30 left (0..29), 20 new (10050..10069)
        second = sync_meta_audience(email_messages(10_040, start=30), "aud1", client, ledger)
        assert (second.added, second.removed, second.unchanged) == (20, 30, 10_020)
        assert len(meta.members["aud1"]) == 10_040
        assert [(c["method"], c["rows"]) for c in meta.calls[2:]] == [("DELETE", 30), ("POST", 20)]
        third = sync_meta_audience(email_messages(10_040, start=30), "aud1", client, ledger)
        assert (third.added, third.removed, third.requests) == (0, 0, 0)
    finally:
        client.close()
        ledger.close()


def test_rate_limit_error_is_retried(tmp_path, meta):
    meta.storm(2, retry_after=0.05)
    cfg = live_config(tmp_path, meta=meta)
    ledger = SendLedger(cfg.warehouse_path)
    client = MetaAudienceClient(cfg)
    try:
        s = sync_meta_audience(email_messages(10), "aud2", client, ledger)
    finally:
        client.close()
        ledger.close()
    assert s.added == 10 and s.retries == 2 and len(meta.members["aud2"]) == 10
