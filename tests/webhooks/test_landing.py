from __future__ import annotations

import threading
import time
from datetime import date

from sources.webhooks.events import LandingRecord, parse_twilio_callback, sms_keyword
from sources.webhooks.landing import LandingWriter, landing_files, recover_inflight
from tests.webhooks.conftest import read_rows


def _rec(i: int, day: date = date(2026, 11, 22)) -> LandingRecord:
    return LandingRecord("email_events", day, "sendgrid", {"event_id": f"e{i}", "email": f"x{i}@example.com"})


def test_group_commit_batches_concurrent_appends(tmp_path, monkeypatch):
    """Requests queued behind a commit share the next one (one write and fsync round for all).
    Deterministic: the first fsync is held until the other 59 requests are queued."""
    import sources.webhooks.landing as mod

    real_fsync = mod.os.fsync
    entered, release = threading.Event(), threading.Event()

    def held_fsync(fd):  # the disk is busy until every request has arrived
        entered.set()
        release.wait(30)
        real_fsync(fd)

    monkeypatch.setattr(mod.os, "fsync", held_fsync)
    writer = LandingWriter(tmp_path, seal_seconds=3600).start()
    first = threading.Thread(target=writer.append, args=([_rec(0)],))
    first.start()
    assert entered.wait(30)  # the writer took the first request and is in its fsync
    threads = [threading.Thread(target=writer.append, args=([_rec(i)],)) for i in range(1, 60)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while writer.pending() < 59 and time.monotonic() < deadline:
        time.sleep(0.001)
    release.set()
    for t in [first, *threads]:
        t.join()
    assert writer.stats.requests == 60 and writer.stats.rows == 60
    assert writer.stats.commits == 2  # the first request's round, then the other 59 in one
    assert sorted(r["event_id"] for r in read_rows(tmp_path, "email_events")) == sorted(
        f"e{i}" for i in range(60)
    )
    assert landing_files(tmp_path, "email_events") == []  # still in flight: invisible to *.jsonl readers
    writer.close()
    (sealed,) = landing_files(tmp_path, "email_events")
    assert sealed.name.startswith("sendgrid-") and sealed.suffix == ".jsonl"
    assert len(sealed.read_text().splitlines()) == 60


def test_segments_seal_by_age_and_by_day(tmp_path):
    with LandingWriter(tmp_path, seal_seconds=0.2) as writer:
        writer.append([_rec(1), _rec(2, date(2026, 11, 23))])
        deadline = time.time() + 5
        while len(landing_files(tmp_path, "email_events")) < 2 and time.time() < deadline:
            time.sleep(0.05)
        sealed = landing_files(tmp_path, "email_events")
        assert [p.parent.name for p in sealed] == ["2026-11-22", "2026-11-23"]
        writer.append([_rec(3)])  # a new segment after sealing
    assert len(landing_files(tmp_path, "email_events")) == 3


def test_recover_inflight_drops_unacknowledged_partial_line(tmp_path):
    day = tmp_path / "sms_events" / "2026-11-22"
    day.mkdir(parents=True)
    (day / ".twilio-w1-0001.jsonl.inflight").write_bytes(b'{"event_id":"a"}\n{"event_id":"b"}\n{"event_')
    (day / ".twilio-w1-0002.jsonl.inflight").write_bytes(b'{"event_')
    sealed = recover_inflight(tmp_path)
    assert [p.name for p in sealed] == ["twilio-w1-0001.jsonl"]
    assert sealed[0].read_text() == '{"event_id":"a"}\n{"event_id":"b"}\n'
    assert sorted(p.name for p in day.iterdir()) == ["twilio-w1-0001.jsonl"]


def test_append_after_close_fails_loudly(tmp_path):
    writer = LandingWriter(tmp_path).start()
    writer.close()
    try:
        writer.append([_rec(1)])
    except RuntimeError as exc:
        assert "not running" in str(exc) or "stopped" in str(exc)
    else:
        raise AssertionError("append after close succeeded")


def test_sms_keywords():
    assert sms_keyword("STOP") == "opt_out" and sms_keyword("quit.") == "opt_out"
    assert sms_keyword("End") == "opt_out" and sms_keyword("CANCEL") == "opt_out"
    assert sms_keyword(" หยุด ") == "opt_out" and sms_keyword("start") == "opt_in"
    assert sms_keyword("stop it") is None and sms_keyword("") is None and sms_keyword(None) is None


def test_twilio_local_thai_number_normalised():
    from datetime import UTC, datetime

    recs = parse_twilio_callback(
        [("MessageSid", "SM" + "1" * 32), ("From", "081-234-5678"), ("To", "+15005550006"), ("Body", "STOP")],
        {},
        datetime(2026, 11, 22, 20, 0, tzinfo=UTC),
        inbound=True,
    )
    assert recs[0].row["from"] == "+66812345678"
    assert recs[0].day == date(2026, 11, 23)  # 03:00 next day in Bangkok
    assert recs[1].row["status"] == "opt_out" and recs[1].source == "consents"
