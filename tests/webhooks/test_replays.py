"""The replay memory's journal: loaded only inside the window, pruned by whole days."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sources.webhooks.landing import INFLIGHT_SUFFIX, REPLAY_SOURCE, LandingWriter
from sources.webhooks.replays import (
    ReplayCache,
    load_replay_keys,
    prune_replay_journal,
    replay_record,
    twilio_replay_key,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


def test_journal_keys_load_inside_the_window_only(tmp_path):
    with LandingWriter(tmp_path) as writer:
        writer.append([replay_record(b"old", T0 - 700), replay_record(b"new", T0 - 100)])
    assert load_replay_keys(tmp_path, T0 - 600) == [(b"new", T0 - 100)]
    cache = ReplayCache(600, clock=lambda: T0)
    assert cache.load(load_replay_keys(tmp_path, T0 - 3600)) == 1  # "old" has expired
    assert cache.seen(b"new") and not cache.seen(b"old")
    assert cache.claim(b"new") is None and cache.claim(b"other") == T0


def test_prune_keeps_the_last_day_and_in_flight_segments(tmp_path):
    with LandingWriter(tmp_path) as writer:
        writer.append(
            [replay_record(b"a", T0 - 3 * DAY), replay_record(b"b", T0 - DAY), replay_record(b"c", T0)]
        )
    open_writer = LandingWriter(tmp_path, seal_seconds=3600).start()  # never closed: stays in flight
    open_writer.append([replay_record(b"d", T0 - 5 * DAY)])
    removed = prune_replay_journal(tmp_path, T0)
    assert [p.name for p in removed] == ["2026-11-28"]
    days = sorted(p.name for p in (tmp_path / REPLAY_SOURCE).iterdir())
    assert days == ["2026-11-26", "2026-11-30", "2026-12-01"]
    open_writer.close()


def test_twilio_key_ignores_port_order_and_repeats_but_not_values():
    pairs = [("Body", "START"), ("From", "+66812345678")]
    key = twilio_replay_key("https://h.example/twilio/inbound", pairs)
    assert twilio_replay_key("https://h.example:443/twilio/inbound", [*reversed(pairs), pairs[0]]) == key
    assert twilio_replay_key("https://h.example/twilio/inbound", [("Body", "STOP"), pairs[1]]) != key
    assert twilio_replay_key("https://h.example/twilio/status", pairs) != key


def test_a_running_receiver_prunes_the_journal_once_a_day(tmp_path, sg_private_key):
    from starlette.testclient import TestClient

    from crmloop.settings import WebhookConfig
    from sources.webhooks.app import create_app
    from tests.webhooks.conftest import public_b64, sg_event, signed_sendgrid

    def wait_sealed() -> None:  # the writer seals right after each commit (seal_seconds=0)
        deadline = time.monotonic() + 10
        while list((tmp_path / REPLAY_SOURCE).glob(f"*/.*{INFLIGHT_SUFFIX}")) and time.monotonic() < deadline:
            time.sleep(0.01)

    now = [T0]
    cfg = WebhookConfig(landing_dir=tmp_path, sendgrid_public_key=public_b64(sg_private_key), seal_seconds=0)
    with TestClient(create_app(cfg, clock=lambda: now[0])) as client:
        for day in range(4):
            now[0] = T0 + day * DAY
            body, headers = signed_sendgrid(sg_private_key, [sg_event(day)], ts=now[0])
            assert client.post("/sendgrid/events", content=body, headers=headers).status_code == 200
            wait_sealed()  # a sealed day can go; an open segment's day is always kept
    days = sorted(p.name for p in (tmp_path / REPLAY_SOURCE).iterdir())
    assert days == ["2026-12-03", "2026-12-04"]
