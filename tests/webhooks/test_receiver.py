from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from starlette.testclient import TestClient

import sources.webhooks.landing as landing_mod
from crmloop.settings import WebhookConfig
from sources.webhooks.app import create_app
from sources.webhooks.events import BANGKOK, CONSENT_COLUMNS
from sources.webhooks.signatures import load_sendgrid_public_key, verify_sendgrid_signature
from tests.webhooks.conftest import (
    TWILIO_TOKEN,
    public_b64,
    read_rows,
    sg_event,
    signed_sendgrid,
    signed_twilio,
)

SID = "SM" + "0123456789abcdef" * 2
# order of the NIST P-256 group (FIPS 186-4, D.1.2.3)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.fixture
def make_client(tmp_path, sg_private_key):
    clients = []

    def make(**overrides):
        cfg = WebhookConfig(
            landing_dir=tmp_path / "landing",
            sendgrid_public_key=public_b64(sg_private_key),
            twilio_auth_token=TWILIO_TOKEN,
            **overrides,
        )
        client = TestClient(create_app(cfg), base_url="http://testserver")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def test_genuine_sendgrid_batch_is_durable_before_200(make_client, sg_private_key, tmp_path, monkeypatch):
    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(landing_mod.os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd))[1])
    client = make_client()
    events = [sg_event(i, ev) for i, ev in enumerate(["processed", "delivered", "open", "click", "bounce"])]
    events[3]["url"] = "https://shop.example/welcome"
    events[4].update(reason="550 mailbox unavailable", type="bounce", bounce_classification="Invalid Address")
    body, headers = signed_sendgrid(sg_private_key, events)
    resp = client.post("/sendgrid/events", content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"stored": 5}
    # on disk (and fsynced) at the moment the 2xx arrived, without closing the writer
    assert fsyncs, "no fsync before answering"
    rows = read_rows(tmp_path / "landing", "email_events")
    assert [r["event_id"] for r in rows] == [e["sg_event_id"] for e in events]
    assert rows[0]["email"] == "customer0@example.com"
    assert rows[3]["url"] == "https://shop.example/welcome"
    assert rows[4]["bounce_type"] == "Invalid Address" and rows[4]["reason"].startswith("550")
    assert rows[0]["campaign_id"] == "welcome_prospect" and rows[0]["send_id"] == "send-0"
    day = datetime.fromtimestamp(events[0]["timestamp"], UTC).astimezone(BANGKOK).date()
    assert list((tmp_path / "landing" / "email_events").iterdir())[0].name == day.isoformat()


def test_event_date_is_bangkok_date(make_client, sg_private_key, tmp_path):
    client = make_client()
    # 2026-11-21 17:30 UTC is 2026-11-22 00:30 in Bangkok
    ts = int(datetime(2026, 11, 21, 17, 30, tzinfo=UTC).timestamp())
    body, headers = signed_sendgrid(sg_private_key, [sg_event(1, "open", ts=ts)])
    assert client.post("/sendgrid/events", content=body, headers=headers).status_code == 200
    (row,) = read_rows(tmp_path / "landing", "email_events")
    assert row["occurred_at"] == "2026-11-22T00:30:00"
    assert (tmp_path / "landing" / "email_events" / "2026-11-22").is_dir()


@pytest.mark.parametrize(
    "case, status",
    [
        ("forged", 403),
        ("unsigned", 401),
        ("tampered", 403),
        ("stale", 403),
        ("future", 403),
        ("bad_sig", 403),
    ],
)
def test_rejected_sendgrid_requests_store_nothing(
    make_client, sg_private_key, other_private_key, tmp_path, case, status
):
    client = make_client(tolerance_seconds=300)
    events = [sg_event(1)]
    if case == "forged":
        body, headers = signed_sendgrid(other_private_key, events)
    elif case == "stale":
        body, headers = signed_sendgrid(sg_private_key, events, ts=time.time() - 301)
    elif case == "future":
        body, headers = signed_sendgrid(sg_private_key, events, ts=time.time() + 400)
    else:
        body, headers = signed_sendgrid(sg_private_key, events)
        if case == "unsigned":
            del headers["X-Twilio-Email-Event-Webhook-Signature"]
        elif case == "tampered":
            body = body.replace(b"delivered", b"bounce")
        elif case == "bad_sig":
            headers["X-Twilio-Email-Event-Webhook-Signature"] = "AAAA"
    resp = client.post("/sendgrid/events", content=body, headers=headers)
    assert resp.status_code == status, resp.text
    assert read_rows(tmp_path / "landing", "email_events") == []


def test_replayed_sendgrid_request_is_rejected_and_stored_once(make_client, sg_private_key, tmp_path):
    client = make_client()
    body, headers = signed_sendgrid(sg_private_key, [sg_event(1), sg_event(2)])
    assert client.post("/sendgrid/events", content=body, headers=headers).status_code == 200
    again = client.post("/sendgrid/events", content=body, headers=headers)
    assert again.status_code == 409
    assert len(read_rows(tmp_path / "landing", "email_events")) == 2


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"[{not json", "not valid JSON"),
        (b'{"email": "a@b.c"}', "JSON array"),
        (b"[]", "empty"),
        (
            json.dumps([{"email": "a@b.c", "event": "open"}]).encode(),
            "event[0]: missing or invalid 'timestamp'",
        ),
        (
            json.dumps([{"email": "nope", "event": "open", "timestamp": 1}]).encode(),
            "event[0]: missing or invalid 'email'",
        ),
        (
            json.dumps([sg_event(1), {**sg_event(2), "event": "exploded"}]).encode(),
            "event[1]: unknown 'event'",
        ),
    ],
)
def test_malformed_but_signed_payload_is_400_and_nothing_stored(
    make_client, sg_private_key, tmp_path, payload, reason
):
    from sources.webhooks.signatures import sign_sendgrid_payload

    client = make_client()
    ts = str(int(time.time()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": sign_sendgrid_payload(sg_private_key, payload, ts),
        "X-Twilio-Email-Event-Webhook-Timestamp": ts,
    }
    resp = client.post("/sendgrid/events", content=payload, headers=headers)
    assert resp.status_code == 400
    assert reason in resp.json()["error"]
    assert (
        not (tmp_path / "landing" / "email_events").exists()
        or read_rows(tmp_path / "landing", "email_events") == []
    )


def test_unsubscribe_and_spamreport_become_email_opt_outs(make_client, sg_private_key, tmp_path):
    client = make_client()
    body, headers = signed_sendgrid(
        sg_private_key, [sg_event(1, "unsubscribe"), sg_event(2, "spamreport"), sg_event(3, "open")]
    )
    assert client.post("/sendgrid/events", content=body, headers=headers).status_code == 200
    consents = read_rows(tmp_path / "landing", "consents")
    assert [(c["email"], c["channel"], c["status"], c["provider_event_id"]) for c in consents] == [
        ("customer1@example.com", "email", "opt_out", "evt-1-unsubscribe"),
        ("customer2@example.com", "email", "opt_out", "evt-2-spamreport"),
    ]
    files = list((tmp_path / "landing" / "consents").glob("*/.email_optouts-*"))
    assert files


def test_oversized_body_is_413(make_client, sg_private_key, tmp_path):
    client = make_client(max_body_bytes=1000)
    body, headers = signed_sendgrid(sg_private_key, [sg_event(i) for i in range(50)])
    assert client.post("/sendgrid/events", content=body, headers=headers).status_code == 413
    assert read_rows(tmp_path / "landing", "email_events") == []


def _status_params(status="delivered", **extra):
    return {"MessageSid": SID, "MessageStatus": status, "To": "+66812345678", "From": "+15005550006", **extra}


def test_twilio_status_callback_genuine_and_duplicate(make_client, tmp_path):
    client = make_client()
    url = "http://testserver/twilio/status?campaign_id=welcome_prospect&send_id=s-9&customer_id=C9"
    params = _status_params("undelivered", ErrorCode="30003")
    resp = client.post(url, content=urlencode(params), headers=signed_twilio(url, params))
    assert resp.status_code == 204, resp.text
    (row,) = read_rows(tmp_path / "landing", "sms_events")
    assert row["event_id"] == f"{SID}:undelivered"
    assert (row["to"], row["status"], row["error_code"]) == ("+66812345678", "undelivered", "30003")
    assert (row["campaign_id"], row["send_id"], row["customer_id"]) == ("welcome_prospect", "s-9", "C9")
    # identical redelivery is a replay: 409, not stored twice
    assert client.post(url, content=urlencode(params), headers=signed_twilio(url, params)).status_code == 409
    assert len(read_rows(tmp_path / "landing", "sms_events")) == 1


@pytest.mark.parametrize("case", ["forged", "unsigned", "tampered", "other_url"])
def test_twilio_rejections_store_nothing(make_client, tmp_path, case):
    client = make_client()
    url = "http://testserver/twilio/status?send_id=s1"
    params = _status_params()
    headers = signed_twilio(url, params)
    body = urlencode(params)
    if case == "forged":
        headers = signed_twilio(url, params, token="f" * 32)
    elif case == "unsigned":
        del headers["X-Twilio-Signature"]
    elif case == "tampered":
        body = urlencode(dict(params, MessageStatus="failed"))
    elif case == "other_url":
        headers = signed_twilio("http://testserver/twilio/status?send_id=s2", params)
    resp = client.post(url, content=body, headers=headers)
    assert resp.status_code == (401 if case == "unsigned" else 403)
    assert read_rows(tmp_path / "landing", "sms_events") == []


def test_twilio_signature_uses_public_base_url_behind_proxy(make_client, tmp_path):
    client = make_client(public_base_url="https://hooks.example.com/")
    params = _status_params("sent")
    local = "http://testserver/twilio/status?send_id=s1"
    public = "https://hooks.example.com/twilio/status?send_id=s1"
    assert (
        client.post(local, content=urlencode(params), headers=signed_twilio(local, params)).status_code == 403
    )
    assert (
        client.post(local, content=urlencode(params), headers=signed_twilio(public, params)).status_code
        == 204
    )
    assert [r["status"] for r in read_rows(tmp_path / "landing", "sms_events")] == ["sent"]


@pytest.mark.parametrize(
    "body, expected",
    [
        ("STOP", "opt_out"),
        (" stop ", "opt_out"),
        ("Unsubscribe", "opt_out"),
        ("หยุด", "opt_out"),
        ("ยกเลิก", "opt_out"),
        ("StopAll", "opt_out"),
        ("START", "opt_in"),
        ("yes", "opt_in"),
        ("unstop", "opt_in"),
        ("please stop calling", None),
        ("hello", None),
    ],
)
def test_inbound_keywords_become_consent_rows(make_client, tmp_path, body, expected):
    client = make_client()
    url = "http://testserver/twilio/inbound"
    params = {
        "MessageSid": SID,
        "SmsStatus": "received",
        "From": "+66812345678",
        "To": "+15005550006",
        "Body": body,
    }
    resp = client.post(url, content=urlencode(params), headers=signed_twilio(url, params))
    assert resp.status_code == 200 and "<Response>" in resp.text
    (event,) = read_rows(tmp_path / "landing", "sms_events")
    assert event["status"] == "received" and event["body"] == body and event["from"] == "+66812345678"
    consents = read_rows(tmp_path / "landing", "consents")
    if expected is None:
        assert consents == []
    else:
        (c,) = consents
        assert (c["phone"], c["channel"], c["status"], c["source_system"]) == (
            "+66812345678",
            "sms",
            expected,
            "twilio",
        )
        assert list(c) == list(CONSENT_COLUMNS)
        assert c["provider_event_id"] == SID and c["recorded_at"] == c["received_at"] == event["received_at"]
        assert list((tmp_path / "landing" / "consents").glob("*/.sms_optouts-*"))


def test_malformed_twilio_payload_is_400(make_client, tmp_path):
    client = make_client()
    url = "http://testserver/twilio/status"
    params = {"MessageSid": "not-a-sid", "MessageStatus": "delivered", "To": "+66812345678"}
    resp = client.post(url, content=urlencode(params), headers=signed_twilio(url, params))
    assert resp.status_code == 400 and "MessageSid" in resp.json()["error"]
    params = _status_params("exploded")
    resp = client.post(url, content=urlencode(params), headers=signed_twilio(url, params))
    assert resp.status_code == 400 and "MessageStatus" in resp.json()["error"]
    assert read_rows(tmp_path / "landing", "sms_events") == []


def test_healthz_and_unconfigured_endpoints(tmp_path):
    cfg = WebhookConfig(landing_dir=tmp_path / "landing")
    with TestClient(create_app(cfg)) as client:
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert client.post("/sendgrid/events", content=b"[]").status_code == 503
        assert client.post("/twilio/status", content=b"").status_code == 503
    assert not (tmp_path / "landing" / "email_events").exists()


def test_real_uvicorn_on_loopback_and_sealed_on_shutdown(tmp_path, sg_private_key):
    cfg = WebhookConfig(
        landing_dir=tmp_path / "landing",
        sendgrid_public_key=public_b64(sg_private_key),
        twilio_auth_token=TWILIO_TOKEN,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(cfg), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 10
        while not server.started and time.time() < deadline:
            time.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/healthz").status_code == 200
        body, headers = signed_sendgrid(sg_private_key, [sg_event(i) for i in range(20)])
        assert httpx.post(base + "/sendgrid/events", content=body, headers=headers).json() == {"stored": 20}
        url = f"{base}/twilio/inbound"
        params = {"MessageSid": SID, "From": "+66812345678", "To": "+15005550006", "Body": "STOP"}
        assert (
            httpx.post(url, content=urlencode(params), headers=signed_twilio(url, params)).status_code == 200
        )
    finally:
        server.should_exit = True
        thread.join(10)
    sealed = sorted((tmp_path / "landing").glob("*/*/*.jsonl"))
    assert [p.parent.parent.name for p in sealed] == ["consents", "email_events", "sms_events"]
    assert not list((tmp_path / "landing").glob("*/*/.*"))  # nothing left in flight
    assert sum(len(p.read_text().splitlines()) for p in sealed) == 22
    assert sealed[0].name.startswith("sms_optouts-")


def _malleated(signature_b64: str) -> str:
    """The other valid ECDSA signature of the same message: (r, n - s)."""
    r, s = decode_dss_signature(base64.b64decode(signature_b64))
    return base64.b64encode(encode_dss_signature(r, P256_ORDER - s)).decode()


def test_malleated_sendgrid_signature_is_a_replay(make_client, sg_private_key, tmp_path):
    client = make_client()
    body, headers = signed_sendgrid(sg_private_key, [sg_event(1, "unsubscribe")])
    assert client.post("/sendgrid/events", content=body, headers=headers).status_code == 200
    other = dict(headers)
    other["X-Twilio-Email-Event-Webhook-Signature"] = _malleated(
        headers["X-Twilio-Email-Event-Webhook-Signature"]
    )
    assert other != headers
    # the malleated signature is genuinely valid: only the replay key can stop it
    key = load_sendgrid_public_key(public_b64(sg_private_key))
    timestamp = headers["X-Twilio-Email-Event-Webhook-Timestamp"]
    assert verify_sendgrid_signature(key, body, other["X-Twilio-Email-Event-Webhook-Signature"], timestamp)
    again = client.post("/sendgrid/events", content=body, headers=other)
    assert again.status_code == 409, again.text
    assert len(read_rows(tmp_path / "landing", "email_events")) == 1
    assert len(read_rows(tmp_path / "landing", "consents")) == 1


def _inbound_params(body: str = "START", sid: str = SID) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "From": "+66812345678",
        "To": "+6625550100",
        "Body": body,
        "FromCity": "Bang Na",
    }


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda p: urlencode(list(reversed(list(p.items())))), id="reordered"),
        pytest.param(lambda p: urlencode(p, quote_via=quote, safe=""), id="quote-not-plus"),
        pytest.param(lambda p: urlencode(p).replace("%2B", "%2b"), id="lower-case-escapes"),
        pytest.param(
            lambda p: "&".join(f"{k}={''.join(f'%{b:02X}' for b in v.encode())}" for k, v in p.items()),
            id="every-byte-escaped",
        ),
        pytest.param(lambda p: urlencode(p) + "&Body=" + quote(p["Body"]), id="repeated-pair"),
    ],
)
def test_twilio_replay_with_reordered_or_reencoded_params_is_rejected(make_client, tmp_path, encode):
    client = make_client()
    url = "http://testserver/twilio/inbound"
    params = _inbound_params()
    headers = signed_twilio(url, params)
    assert client.post(url, content=urlencode(params), headers=headers).status_code == 200
    replay = encode(params)
    assert replay != urlencode(params)
    again = client.post(url, content=replay, headers=headers)
    assert again.status_code == 409, again.text
    assert len(read_rows(tmp_path / "landing", "sms_events")) == 1
    assert len(read_rows(tmp_path / "landing", "consents")) == 1


def test_twilio_replay_through_another_port_is_rejected(make_client, tmp_path):
    client = make_client()
    params = _inbound_params()
    headers = signed_twilio("http://testserver/twilio/inbound", params)
    assert (
        client.post(
            "http://testserver/twilio/inbound", content=urlencode(params), headers=headers
        ).status_code
        == 200
    )
    # Twilio's validator accepts the URL with or without a port, so the same signature verifies here
    again = client.post("http://testserver:8080/twilio/inbound", content=urlencode(params), headers=headers)
    assert again.status_code == 409, again.text
    assert len(read_rows(tmp_path / "landing", "sms_events")) == 1


@pytest.mark.parametrize("ending", ["shutdown", "crash"])
def test_replays_are_rejected_after_a_restart(tmp_path, sg_private_key, ending):
    cfg = WebhookConfig(
        landing_dir=tmp_path / "landing",
        sendgrid_public_key=public_b64(sg_private_key),
        twilio_auth_token=TWILIO_TOKEN,
    )
    sg_body, sg_headers = signed_sendgrid(sg_private_key, [sg_event(1, "unsubscribe")])
    url = "http://testserver/twilio/inbound"
    params = _inbound_params()
    tw_headers = signed_twilio(url, params)
    # "crash": the first process's writer is never closed, its segments stay in flight
    writer = (
        landing_mod.LandingWriter(cfg.landing_dir, seal_seconds=3600).start() if ending == "crash" else None
    )
    with TestClient(create_app(cfg, writer)) as client:
        assert client.post("/sendgrid/events", content=sg_body, headers=sg_headers).status_code == 200
        assert client.post(url, content=urlencode(params), headers=tw_headers).status_code == 200
    with TestClient(create_app(cfg)) as client:  # a new process: nothing in memory
        assert client.post("/sendgrid/events", content=sg_body, headers=sg_headers).status_code == 409
        assert client.post(url, content=urlencode(params), headers=tw_headers).status_code == 409
        # and a new request is still accepted
        fresh = _inbound_params("STOP", sid="SM" + "f" * 32)
        assert (
            client.post(url, content=urlencode(fresh), headers=signed_twilio(url, fresh)).status_code == 200
        )
    assert len(read_rows(tmp_path / "landing", "email_events")) == 1
    assert len(read_rows(tmp_path / "landing", "sms_events")) == 2
