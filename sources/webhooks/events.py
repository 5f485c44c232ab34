"""Turn provider webhook payloads into lake rows (pure functions, no I/O).

Rows use the canonical columns of ``sources/README.md`` (entities ``email_events``,
``sms_events`` and ``consents``). Timestamps are naive Asia/Bangkok wall-clock ISO strings
(``2026-11-22T09:15:02``); the landing partition date is the event's date in Asia/Bangkok.

Duplicates are harmless by construction: a SendGrid event keeps its ``sg_event_id`` as
``event_id`` and a Twilio callback gets ``event_id = <MessageSid>:<status>``, so a retried
delivery produces the same ``event_id``; the warehouse keeps the first row per ``event_id``
ordered by (load_date, _source_file, _row_number). Consent rows carry the provider's id too
(``provider_event_id``: the ``sg_event_id``, or the inbound message's ``MessageSid``) and
``stg_consents`` keeps each id's first receipt, so a replayed START cannot re-subscribe a number
that sent STOP after it.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sources import schema
from sources.normalise import parse_phone

BANGKOK = ZoneInfo("Asia/Bangkok")

EMAIL_EVENT_TYPES = frozenset(schema.EMAIL_EVENT_TYPES)
# email events that withdraw consent for the email channel
EMAIL_OPT_OUT_EVENTS = frozenset({"unsubscribe", "group_unsubscribe", "spamreport"})

SMS_STATUSES = frozenset(schema.SMS_STATUSES)

OPT_OUT_KEYWORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "หยุด", "ยกเลิก"})
OPT_IN_KEYWORDS = frozenset({"start", "yes", "unstop"})

# the lake columns of the entities the receiver lands (sources/schema.py is the one contract)
EMAIL_EVENT_COLUMNS = tuple(name for name, _ in schema.entity_columns("email_events"))
SMS_EVENT_COLUMNS = tuple(name for name, _ in schema.entity_columns("sms_events"))
CONSENT_COLUMNS = tuple(name for name, _ in schema.entity_columns("consents"))

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class PayloadError(ValueError):
    """A webhook payload that cannot be stored; the message names the item and the reason."""


@dataclass(frozen=True)
class LandingRecord:
    """One row for ``<landing>/<source>/<day>/<prefix>-*.jsonl``."""

    source: str
    day: date
    prefix: str
    row: dict[str, Any]

    def line(self) -> bytes:
        return (json.dumps(self.row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def bangkok_wallclock(moment: datetime) -> datetime:
    """Naive Asia/Bangkok wall-clock time of an aware datetime."""
    return moment.astimezone(BANGKOK).replace(tzinfo=None)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _opt_str(value: Any, max_len: int = 2000) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # SendGrid sends category/ids as lists sometimes
        value = value[0] if value else None
        if value is None:
            return None
    if isinstance(value, (dict, bool)):
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text[:max_len] if text else None


def parse_sendgrid_batch(body: bytes, received: datetime) -> list[LandingRecord]:
    """SendGrid Event Webhook body (a JSON array of events) → email_events (+ consent) records.

    Raises PayloadError naming the event index and reason on anything malformed; then nothing
    of the batch is stored (the provider will see a 400)."""
    try:
        events = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(events, list):
        raise PayloadError("body must be a JSON array of events")
    if not events:
        raise PayloadError("body is an empty array")
    received_bkk = _iso(bangkok_wallclock(received))
    out: list[LandingRecord] = []
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            raise PayloadError(f"event[{i}]: not a JSON object")
        email = _opt_str(ev.get("email"), 320)
        if not email or "@" not in email:
            raise PayloadError(f"event[{i}]: missing or invalid 'email'")
        kind = ev.get("event")
        if not isinstance(kind, str) or kind not in EMAIL_EVENT_TYPES:
            raise PayloadError(f"event[{i}]: unknown 'event' {kind!r}")
        ts = ev.get("timestamp")
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not (0 < ts < 32503680000):
            raise PayloadError(f"event[{i}]: missing or invalid 'timestamp' {ts!r}")
        occurred = bangkok_wallclock(datetime.fromtimestamp(ts, UTC))
        event_id = _opt_str(ev.get("sg_event_id"), 200)
        if not event_id:  # deterministic id so a redelivery still deduplicates
            event_id = (
                "sha1:"
                + hashlib.sha1(json.dumps(ev, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
            )
        bounce_type = _opt_str(ev.get("bounce_classification")) or _opt_str(ev.get("type"))
        row = {
            "event_id": event_id,
            "email": email.lower(),
            "event": kind,
            "occurred_at": _iso(occurred),
            "campaign_id": _opt_str(ev.get("campaign_id")),
            "send_id": _opt_str(ev.get("send_id")),
            "customer_id": _opt_str(ev.get("customer_id")),
            "url": _opt_str(ev.get("url")),
            "reason": _opt_str(ev.get("reason")) or _opt_str(ev.get("response")),
            "bounce_type": bounce_type if kind in ("bounce", "dropped", "deferred") else None,
            "sg_message_id": _opt_str(ev.get("sg_message_id"), 300),
            "received_at": received_bkk,
        }
        out.append(LandingRecord("email_events", occurred.date(), "sendgrid", row))
        if kind in EMAIL_OPT_OUT_EVENTS:
            out.append(
                LandingRecord(
                    "consents",
                    occurred.date(),
                    "email_optouts",
                    {
                        "source_system": "sendgrid",
                        "source_customer_id": row["customer_id"],
                        "email": row["email"],
                        "phone": None,
                        "channel": "email",
                        "status": "opt_out",
                        "recorded_at": row["occurred_at"],  # SendGrid's event time
                        "provider_event_id": event_id,
                        "received_at": received_bkk,
                    },
                )
            )
    return out


def normalise_e164(raw: str | None) -> str | None:
    """E.164 for a phone number Twilio sent (already E.164 in practice); Thai local forms accepted,
    by the one phone rule of ingestion (`sources.normalise.parse_phone`)."""
    return parse_phone(raw).e164


def sms_keyword(body: str | None) -> str | None:
    """'opt_out', 'opt_in' or None for an inbound SMS body (whole message, case/space-insensitive)."""
    if not body:
        return None
    text = unicodedata.normalize("NFKC", body).strip().strip(".!").strip().casefold()
    if text in OPT_OUT_KEYWORDS:
        return "opt_out"
    if text in OPT_IN_KEYWORDS:
        return "opt_in"
    return None


def _first(form: list[tuple[str, str]], name: str) -> str | None:
    for key, value in form:
        if key == name:
            return value
    return None


def parse_twilio_callback(
    form: list[tuple[str, str]], query: dict[str, str], received: datetime, inbound: bool
) -> list[LandingRecord]:
    """A Twilio status callback or inbound message → sms_events (+ consent) records.

    ``query`` holds the status-callback URL's own parameters: the sender puts ``campaign_id``,
    ``send_id`` and ``customer_id`` there, and Twilio signs the URL including them."""
    sid = _first(form, "MessageSid") or _first(form, "SmsSid")
    if not sid or not re.fullmatch(r"[A-Za-z]{2}[0-9a-fA-F]{32}", sid):
        raise PayloadError(f"missing or invalid MessageSid {sid!r}")
    status = (_first(form, "MessageStatus") or _first(form, "SmsStatus") or "").strip().lower()
    if inbound and not status:
        status = "received"
    if status not in SMS_STATUSES:
        raise PayloadError(f"unknown MessageStatus {status!r}")
    to_raw, from_raw = _first(form, "To"), _first(form, "From")
    to, frm = normalise_e164(to_raw), normalise_e164(from_raw)
    if inbound and not frm:
        raise PayloadError(f"inbound message without a valid From number ({from_raw!r})")
    if not inbound and not to:
        raise PayloadError(f"status callback without a valid To number ({to_raw!r})")
    now = bangkok_wallclock(received)
    body = _first(form, "Body") if inbound else None
    row = {
        "event_id": f"{sid}:{status}",
        "message_sid": sid,
        "to": to,
        "from": frm,
        "status": status,
        "error_code": _opt_str(_first(form, "ErrorCode")),
        "occurred_at": _iso(now),
        "campaign_id": _opt_str(query.get("campaign_id")),
        "send_id": _opt_str(query.get("send_id")),
        "customer_id": _opt_str(query.get("customer_id")),
        "body": unicodedata.normalize("NFC", body) if body is not None else None,
        "received_at": _iso(now),
    }
    out = [LandingRecord("sms_events", now.date(), "twilio", row)]
    keyword = sms_keyword(body) if inbound else None
    if keyword:
        out.append(
            LandingRecord(
                "consents",
                now.date(),
                "sms_optouts",
                {
                    "source_system": "twilio",
                    "source_customer_id": row["customer_id"],
                    "email": None,
                    "phone": frm,
                    "channel": "sms",
                    "status": keyword,
                    # Twilio's messaging webhooks carry no event time: this receipt's time stands in,
                    # and the warehouse keeps a MessageSid's first receipt (a replay cannot move it)
                    "recorded_at": row["occurred_at"],
                    "provider_event_id": sid,
                    "received_at": row["received_at"],
                },
            )
        )
    return out
