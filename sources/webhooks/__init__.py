"""Webhook receiver for provider feedback (SendGrid Event Webhook, Twilio callbacks).

Plain Python (no Dagster): a Starlette ASGI app that verifies signatures and appends events
durably to the landing zone (``email_events``, ``sms_events``, ``consents``)."""

from sources.webhooks.app import create_app
from sources.webhooks.events import (
    LandingRecord,
    PayloadError,
    parse_sendgrid_batch,
    parse_twilio_callback,
    sms_keyword,
)
from sources.webhooks.landing import LandingWriter, landing_files, recover_inflight
from sources.webhooks.replays import ReplayCache, sendgrid_replay_key, twilio_replay_key
from sources.webhooks.signatures import (
    load_sendgrid_public_key,
    sign_sendgrid_payload,
    verify_sendgrid_signature,
    verify_twilio_signature,
)

__all__ = [
    "LandingRecord",
    "LandingWriter",
    "PayloadError",
    "ReplayCache",
    "create_app",
    "landing_files",
    "load_sendgrid_public_key",
    "parse_sendgrid_batch",
    "parse_twilio_callback",
    "recover_inflight",
    "sendgrid_replay_key",
    "sign_sendgrid_payload",
    "sms_keyword",
    "twilio_replay_key",
    "verify_sendgrid_signature",
    "verify_twilio_signature",
]
