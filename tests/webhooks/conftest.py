from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

from sources.webhooks.landing import INFLIGHT_SUFFIX
from sources.webhooks.signatures import sign_sendgrid_payload

TWILIO_TOKEN = "0123456789abcdef0123456789abcdef"


def public_b64(private_key: ec.EllipticCurvePrivateKey) -> str:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.fixture(scope="session")
def sg_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def other_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sg_event(i: int, event: str = "delivered", ts: int | None = None, **extra) -> dict:
    return {
        "email": f"Customer{i}@Example.com",
        "timestamp": int(ts if ts is not None else time.time()),
        "event": event,
        "sg_event_id": f"evt-{i}-{event}",
        "sg_message_id": f"msg-{i}",
        "campaign_id": "welcome_prospect",
        "send_id": f"send-{i}",
        "customer_id": f"C{i:05d}",
        **extra,
    }


def signed_sendgrid(private_key, events, ts: float | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events).encode()
    timestamp = str(int(ts if ts is not None else time.time()))
    return body, {
        "X-Twilio-Email-Event-Webhook-Signature": sign_sendgrid_payload(private_key, body, timestamp),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


def signed_twilio(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> dict[str, str]:
    return {
        "X-Twilio-Signature": RequestValidator(token).compute_signature(url, params),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def read_rows(landing: Path, source: str) -> list[dict]:
    """Every row on disk for a source, sealed or in flight."""
    rows: list[dict] = []
    base = landing / source
    files = sorted(base.glob("*/*.jsonl")) + sorted(base.glob(f"*/.*{INFLIGHT_SUFFIX}"))
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            rows.append(json.loads(line))
    return rows
