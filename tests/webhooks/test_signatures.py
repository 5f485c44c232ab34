from __future__ import annotations

import base64
import json

import pytest
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator

from sources.webhooks.signatures import (
    SignatureConfigError,
    compute_twilio_signature,
    load_sendgrid_public_key,
    sign_sendgrid_payload,
    verify_sendgrid_signature,
    verify_twilio_signature,
)
from tests.webhooks.conftest import TWILIO_TOKEN, public_b64


def test_sendgrid_signature_agrees_with_the_official_sdk(sg_private_key, other_private_key):
    key_b64 = public_b64(sg_private_key)
    ours = load_sendgrid_public_key(key_b64)
    sdk = EventWebhook(key_b64)
    payload = json.dumps([{"email": "นิดา@example.com", "event": "open", "timestamp": 1}], ensure_ascii=False)
    ts = "1763800000"
    sig = sign_sendgrid_payload(sg_private_key, payload.encode(), ts)
    assert sdk.verify_signature(payload, sig, ts) is True
    assert verify_sendgrid_signature(ours, payload.encode(), sig, ts) is True
    # tampered body, timestamp, other signer: both reject
    for body, stamp, s in [
        (payload.replace("open", "click"), ts, sig),
        (payload, "1763800001", sig),
        (payload, ts, sign_sendgrid_payload(other_private_key, payload.encode(), ts)),
    ]:
        assert sdk.verify_signature(body, s, stamp) is False
        assert verify_sendgrid_signature(ours, body.encode(), s, stamp) is False
    assert verify_sendgrid_signature(ours, payload.encode(), "not base64!!", ts) is False
    assert verify_sendgrid_signature(ours, payload.encode(), base64.b64encode(b"junk").decode(), ts) is False
    assert verify_sendgrid_signature(ours, payload.encode(), "", ts) is False


def test_sendgrid_public_key_loader_rejects_bad_keys():
    with pytest.raises(SignatureConfigError):
        load_sendgrid_public_key("bm90IGEga2V5")
    with pytest.raises(SignatureConfigError):
        load_sendgrid_public_key("%%%")


PARAM_SETS = [
    {},
    {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "To": "+66812345678"},
    {
        "Body": "หยุด",
        "From": "+66812345678",
        "To": "+15005550006",
        "SmsStatus": "received",
        "B": "",
        "a": "x y&z",
    },
]


@pytest.mark.parametrize("params", PARAM_SETS)
@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/twilio/status?campaign_id=c1&send_id=s1",
        "http://127.0.0.1:8080/twilio/inbound",
    ],
)
def test_twilio_signature_matches_official_validator(params, url):
    official = RequestValidator(TWILIO_TOKEN)
    ours = compute_twilio_signature(TWILIO_TOKEN, url, list(params.items()))
    assert ours == official.compute_signature(url, params)
    assert verify_twilio_signature(TWILIO_TOKEN, url, list(params.items()), ours)
    assert official.validate(url, params, ours)
    forged = compute_twilio_signature("wrong-token", url, list(params.items()))
    assert not verify_twilio_signature(TWILIO_TOKEN, url, list(params.items()), forged)
    assert not official.validate(url, params, forged)
    if params:
        tampered = dict(params, **{next(iter(params)): "tampered"})
        assert not verify_twilio_signature(TWILIO_TOKEN, url, list(tampered.items()), ours)
        assert not official.validate(url, tampered, ours)


def test_twilio_signature_port_variants_and_sha256_like_the_validator():
    params = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "sent"}
    official = RequestValidator(TWILIO_TOKEN)
    signed_with_port = official.compute_signature("https://hooks.example.com:443/twilio/status", params)
    assert verify_twilio_signature(
        TWILIO_TOKEN, "https://hooks.example.com/twilio/status", params.items(), signed_with_port
    )
    assert official.validate("https://hooks.example.com/twilio/status", params, signed_with_port)
    sha256 = official.compute_signature("https://h.example/t", params, "HMAC_SHA256")
    assert (
        compute_twilio_signature(TWILIO_TOKEN, "https://h.example/t", params.items(), "HMAC_SHA256") == sha256
    )
    assert verify_twilio_signature(TWILIO_TOKEN, "https://h.example/t", params.items(), sha256, "HMAC_SHA256")
    assert not verify_twilio_signature(
        TWILIO_TOKEN, "https://h.example/t", params.items(), sha256, "HMAC_SHA1"
    )
    assert not verify_twilio_signature(TWILIO_TOKEN, "https://h.example/t", params.items(), None)


def test_twilio_repeated_parameters_match_validator_multidict():
    class MultiDict(dict):
        def __init__(self, pairs):
            super().__init__()
            self.pairs = pairs
            for k, _ in pairs:
                self[k] = None

        def getall(self, name):
            return [v for k, v in self.pairs if k == name]

    pairs = [("MediaUrl", "b"), ("MediaUrl", "a"), ("Body", "hi")]
    url = "https://h.example/twilio/inbound"
    assert compute_twilio_signature(TWILIO_TOKEN, url, pairs) == RequestValidator(
        TWILIO_TOKEN
    ).compute_signature(url, MultiDict(pairs))
