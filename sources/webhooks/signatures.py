"""Provider webhook signatures, pure functions (no I/O).

SendGrid signed Event Webhook: ECDSA P-256 with SHA-256 over ``timestamp + raw body`` (the
timestamp header's bytes followed by the request body's bytes, exactly as received); the
signature header is base64 of the DER-encoded ECDSA signature and the verification key is
the base64 of a DER SubjectPublicKeyInfo (what SendGrid shows under Mail Settings). This is
the algorithm of ``sendgrid.helpers.eventwebhook.EventWebhook.verify_signature`` applied to
bytes rather than to a decoded string, so a body that is not UTF-8 still verifies exactly.

Twilio: ``X-Twilio-Signature`` is checked by the SDK's own
``twilio.request_validator.RequestValidator`` (HMAC-SHA1, or the algorithm named in
``X-Twilio-Webhooks-Signature-Settings``; the URL with and without its port). Twilio signs the
URL it called, which behind a proxy is not the URL this process sees, so the caller passes the
public URL. The form goes in as a multi-dict so repeated names are signed as Twilio signs them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator, get_signature_algorithm

SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
TWILIO_SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"


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


def verify_twilio_signature(
    auth_token: str,
    url: str,
    params: Iterable[tuple[str, str]],
    signature: str | None,
    settings_header: str | None = None,
) -> bool:
    """True when ``signature`` is Twilio's signature of ``url`` (with or without its port) and the
    form ``params`` (repeated names allowed), by the algorithm ``settings_header`` names."""
    if not signature:
        return False
    return RequestValidator(auth_token).validate(
        url,
        ImmutableMultiDict(list(params)),
        signature.strip(),
        algorithm=get_signature_algorithm(settings_header),
    )
