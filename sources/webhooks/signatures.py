"""Provider webhook signatures, pure functions (no I/O, no web framework).

SendGrid signed Event Webhook: ECDSA P-256 with SHA-256 over ``timestamp + raw body`` (the
timestamp header's bytes followed by the request body's bytes, exactly as received); the
signature header is base64 of the DER-encoded ECDSA signature and the verification key is
the base64 of a DER SubjectPublicKeyInfo (what SendGrid shows under Mail Settings). This is
the algorithm of ``sendgrid.helpers.eventwebhook.EventWebhook.verify_signature`` applied to
bytes rather than to a decoded string, so a body that is not UTF-8 still verifies exactly.

Twilio: ``X-Twilio-Signature`` is base64(HMAC-SHA1(auth token, URL + each POST parameter
name followed by its value, names sorted)). Twilio signs the URL it called, which behind a
proxy is not the URL this process sees, so the caller passes the public URL. As
``twilio.request_validator.RequestValidator`` does, the URL is tried with and without its
default port.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
TWILIO_SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"

_TWILIO_HASHES = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}


class SignatureConfigError(ValueError):
    """A configured key or token cannot be used."""


def load_sendgrid_public_key(key_b64: str) -> ec.EllipticCurvePublicKey:
    """The SendGrid verification key (base64 of DER SubjectPublicKeyInfo, PEM armour allowed)."""
    text = "".join(
        line.strip() for line in key_b64.strip().splitlines() if line.strip() and "-----" not in line
    )
    try:
        der = base64.b64decode(text, validate=True)
        key = load_der_public_key(der)
    except (binascii.Error, ValueError) as exc:
        raise SignatureConfigError(
            f"SENDGRID_WEBHOOK_PUBLIC_KEY is not a base64 DER public key: {exc}"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SignatureConfigError("SENDGRID_WEBHOOK_PUBLIC_KEY must be an ECDSA P-256 public key")
    return key


def verify_sendgrid_signature(
    public_key: ec.EllipticCurvePublicKey, body: bytes, signature_b64: str, timestamp: str
) -> bool:
    """True when ``signature_b64`` is a valid ECDSA P-256/SHA-256 signature of timestamp + body."""
    if not signature_b64 or not timestamp:
        return False
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        public_key.verify(signature, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def sign_sendgrid_payload(private_key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str) -> str:
    """Sign as SendGrid does (used by the simulator, the benchmark and the tests)."""
    return base64.b64encode(
        private_key.sign(timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    ).decode("ascii")


def twilio_algorithm(settings_header: str | None) -> str:
    """HMAC_SHA1 unless X-Twilio-Webhooks-Signature-Settings names another algorithm."""
    for part in (settings_header or "").split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return "HMAC_SHA1"


def compute_twilio_signature(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], algorithm: str = "HMAC_SHA1"
) -> str:
    """base64(HMAC(auth token, url + name1 + value1 + ...)), names sorted, values sorted per name.

    ``params`` are the form fields as (name, value) pairs, repeated names allowed; identical
    (name, value) pairs count once, matching the official validator."""
    digest = _TWILIO_HASHES.get(algorithm.upper())
    if digest is None:
        raise ValueError(f"unsupported Twilio signature algorithm {algorithm!r}")
    by_name: dict[str, set[str]] = {}
    for name, value in params:
        by_name.setdefault(name, set()).add(value)
    parts = [url]
    for name in sorted(by_name):
        for value in sorted(by_name[name]):
            parts.append(name + value)
    mac = hmac.new(auth_token.encode("utf-8"), "".join(parts).encode("utf-8"), digest)
    return base64.b64encode(mac.digest()).decode("ascii")


def _url_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.username or parts.password:
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@"
    else:
        userinfo = ""
    if host and ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    port = parts.port or default_port
    without = urlunsplit(parts._replace(netloc=f"{userinfo}{host}"))
    with_port = urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{port}"))
    return [url] + [u for u in (without, with_port) if u != url]


def verify_twilio_signature(
    auth_token: str,
    url: str,
    params: Iterable[tuple[str, str]],
    signature: str | None,
    algorithm: str = "HMAC_SHA1",
) -> bool:
    """True when ``signature`` matches the URL Twilio called (with or without its port)."""
    if not signature or algorithm.upper() not in _TWILIO_HASHES:
        return False
    pairs = list(params)
    given = signature.strip().encode("ascii", "replace")
    for candidate in _url_variants(url):
        expected = compute_twilio_signature(auth_token, candidate, pairs, algorithm).encode("ascii")
        if hmac.compare_digest(expected, given):
            return True
    return False
