"""Email through SendGrid v3 mail send: the one module that imports the `sendgrid` SDK.

One request carries up to 1,000 personalizations (each address once per request), the
per-person subject and body as substitutions into inline content (or a dynamic template),
`custom_args` with campaign id, send id and batch id, the campaign's unsubscribe group (`asm`),
and (by default) a SendGrid `batch_id` + `send_at` so an unconfirmed request can be cancelled.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.error
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from python_http_client import exceptions as sg_exc
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import SendAt

from activations.delivery.engine import BatchResult, BatchTicket, new_batch_id
from activations.delivery.ledger import Outcome, PendingRow
from activations.delivery.resilience import (
    RequestOutcome,
    Retry,
    TokenBucket,
    attempts_of,
    parse_retry_after,
    retrying,
)
from crmloop.settings import DeliveryConfig, DeliveryConfigError

# python_http_client logs request headers (the API key) at DEBUG: never let that through.
for _name in ("python_http_client", "python_http_client.client"):
    if logging.getLogger(_name).level < logging.INFO:
        logging.getLogger(_name).setLevel(logging.INFO)

MAX_PERSONALIZATIONS = 1000
MAX_SUBSTITUTION_BYTES = 10_000  # SendGrid: substitutions per personalization
MAX_SCHEDULE_AHEAD = timedelta(hours=72)  # SendGrid: send_at at most 72 hours ahead
TEXT_TAG = "-crm_text-"
HTML_TAG = "-crm_html-"
_FIELD_INDEX = re.compile(r"personalizations\.(\d+)")


_REQUIRED_ARGS = ("campaign_id", "customer_id", "send_id", "send_date")


def _custom_args(m: Any, batch_id: str) -> dict[str, str]:
    """custom_args of one personalization: the message's (all strings, as SendGrid requires)
    plus the batch id; campaign, customer, send id and send date are always present."""
    ca = getattr(m, "custom_args", None) or {}
    if all(k in ca for k in _REQUIRED_ARGS) and all(type(v) is str for v in ca.values()):
        return {**ca, "batch_id": batch_id}
    args = {str(k): str(v) for k, v in ca.items() if v is not None}
    args.setdefault("campaign_id", str(m.campaign_id))
    args.setdefault("customer_id", str(m.customer_id))
    args.setdefault("send_id", m.send_id)
    args.setdefault("send_date", m.send_date.isoformat())
    args["batch_id"] = batch_id
    return args


def fits_substitutions(m: Any) -> bool:
    chars = len(m.text or "") + len(m.html or "")
    if chars * 4 <= MAX_SUBSTITUTION_BYTES:  # UTF-8 needs at most 4 bytes a character
        return True
    return len((m.text or "").encode()) + len((m.html or "").encode()) <= MAX_SUBSTITUTION_BYTES


def unsubscribe_group(m: Any, cfg: DeliveryConfig) -> int | None:
    """The SendGrid unsubscribe group (`asm.group_id`) of a message: its campaign's
    `email_unsubscribe_group` from the plan, else CRM_SENDGRID_ASM_GROUP_ID, else None."""
    group = getattr(m, "unsubscribe_group", None) or cfg.asm_group_id
    return int(group) if group else None


def build_mail_body(
    messages: Sequence[Any],
    cfg: DeliveryConfig,
    batch_id: str,
    send_at: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The v3 mail-send JSON for one batch (pure). All messages share campaign, sender and
    unsubscribe group. With `send_at`, `batch_id` is a SendGrid batch id and the request is
    scheduled (a UNIX timestamp) so that it can still be cancelled. A message with its own send
    time (`not_before`) carries it as its personalization's `send_at` (`personal_send_at`; a time
    at or before `now` goes at once)."""
    if not messages:
        raise ValueError("empty batch")
    if len(messages) > MAX_PERSONALIZATIONS:
        raise ValueError(f"{len(messages)} personalizations: SendGrid allows at most {MAX_PERSONALIZATIONS}")
    seen: set[str] = set()
    for m in messages:
        addr = m.to.lower()
        if addr in seen:
            raise ValueError(f"address {m.to!r} twice in one request (campaign {m.campaign_id})")
        seen.add(addr)
    first = messages[0]
    body: dict[str, Any] = {
        "from": {
            "email": first.sender or cfg.from_email,
            "name": getattr(first, "sender_name", None) or cfg.from_name,
        },
        "categories": [str(first.campaign_id)[:255]],
    }
    if cfg.template_id:
        body["template_id"] = cfg.template_id
        body["personalizations"] = [
            {
                "to": [{"email": m.to}],
                "dynamic_template_data": {
                    **{
                        k: v
                        for k, v in (getattr(m, "fields", None) or {}).items()
                        if isinstance(v, str | int | float)
                    },
                    "subject": m.subject or "",
                    "text": m.text or "",
                    "html": m.html or "",
                },
                "custom_args": _custom_args(m, batch_id),
            }
            for m in messages
        ]
    elif len(messages) == 1 and not fits_substitutions(first):
        body["personalizations"] = [
            {
                "to": [{"email": first.to}],
                "subject": first.subject or "",
                "custom_args": _custom_args(first, batch_id),
            }
        ]
        body["content"] = [{"type": "text/plain", "value": first.text or ""}]
        if first.html:
            body["content"].append({"type": "text/html", "value": first.html})
    else:
        has_html = any(m.html for m in messages)
        body["personalizations"] = [
            {
                "to": [{"email": m.to}],
                "subject": m.subject or "",
                "substitutions": {TEXT_TAG: m.text or "", **({HTML_TAG: m.html or ""} if has_html else {})},
                "custom_args": _custom_args(m, batch_id),
            }
            for m in messages
        ]
        body["content"] = [{"type": "text/plain", "value": TEXT_TAG}]
        if has_html:
            body["content"].append({"type": "text/html", "value": HTML_TAG})
    group = unsubscribe_group(first, cfg)
    if group is not None:
        body["asm"] = {"group_id": group}
    if send_at is not None:
        body["batch_id"] = batch_id
        body["send_at"] = int(send_at.timestamp())
    for i, m in enumerate(messages):  # the person's own send time (the plan's send_time)
        at = personal_send_at(m, send_at, now)
        if at is not None:
            body["personalizations"][min(i, len(body["personalizations"]) - 1)]["send_at"] = SendAt(
                int(at.timestamp()), p=i
            ).get()
    return body


def personal_send_at(m: Any, batch_send_at: datetime | None, now: datetime | None = None) -> datetime | None:
    """The send time of one personalization: the message's `not_before` (its campaign's send_time,
    activations/audiences/send_times.py), never before the batch's own `send_at` (which keeps an
    unconfirmed batch cancellable); None when the message has none or it has passed (`now`: it
    goes with the batch, at once)."""
    nb = getattr(m, "not_before", None)
    if nb is None:
        return None
    if batch_send_at is not None:
        return max(nb, batch_send_at)
    return None if now is not None and nb <= now else nb


def plan_email_batches(
    messages: Iterable[Any], max_size: int = MAX_PERSONALIZATIONS, template: bool = False
) -> Iterator[list[Any]]:
    """Group messages into requests: same campaign/sender/date/send time, ≤ max_size, each address once.

    Streams: keeps one open batch per group; an address repeated within a group moves to the
    next batch of that group."""
    open_batches: dict[tuple, tuple[list, set]] = {}
    overflow: dict[tuple, list] = {}
    for m in messages:
        if not template and not fits_substitutions(m):
            yield [m]
            continue
        # one send time per request, so the batch's send_at (ledger scheduled_at) is every message's
        key = (
            m.campaign_id, m.sender, m.sender_name, m.send_date, getattr(m, "unsubscribe_group", None),
            getattr(m, "not_before", None),
        )  # fmt: skip
        entry = open_batches.get(key)
        if entry is None:
            entry = open_batches[key] = ([], set())
        batch, seen = entry
        addr = m.to.lower()
        if addr in seen:
            overflow.setdefault(key, []).append(m)
            continue
        batch.append(m)
        seen.add(addr)
        if len(batch) >= max_size:
            yield batch
            del open_batches[key]
            pending = overflow.pop(key, None)
            if pending:
                yield from plan_email_batches(pending, max_size, template)
    for key, (batch, _) in list(open_batches.items()):
        if batch:
            yield batch
        pending = overflow.pop(key, None)
        if pending:
            yield from plan_email_batches(pending, max_size, template)


def _classify(exc: BaseException) -> tuple[str, float | None, str]:
    """(RequestOutcome, retry_after, reason) for an exception raised by the SDK."""
    if isinstance(exc, sg_exc.HTTPError):
        code = int(exc.status_code)
        headers = exc.headers or {}
        if code == 429 or code >= 500:
            return RequestOutcome.RETRY, parse_retry_after(headers), f"http_{code}"
        return RequestOutcome.PERMANENT, None, f"http_{code}"
    if isinstance(exc, urllib.error.URLError):
        inner = exc.reason
        if isinstance(inner, ConnectionRefusedError | socket.gaierror):
            return RequestOutcome.RETRY, None, "connection_refused"
        if isinstance(inner, TimeoutError | socket.timeout):
            return RequestOutcome.AMBIGUOUS, None, "timeout"
        return RequestOutcome.AMBIGUOUS, None, f"connection_error: {type(inner).__name__}"
    if isinstance(exc, ConnectionRefusedError):
        return RequestOutcome.RETRY, None, "connection_refused"
    if isinstance(
        exc,
        http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError | http.client.HTTPException,
    ):
        return RequestOutcome.AMBIGUOUS, None, f"dropped: {type(exc).__name__}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return RequestOutcome.AMBIGUOUS, None, "timeout"
    raise exc


def _error_fields(body: Any) -> tuple[set[int], list[str]]:
    """Personalization indices named by a SendGrid 400 body, and the messages."""
    try:
        data = json.loads(body.decode() if isinstance(body, bytes) else body)
    except (ValueError, AttributeError):
        return set(), [str(body)[:200]]
    idx: set[int] = set()
    msgs: list[str] = []
    for err in data.get("errors", []) if isinstance(data, dict) else []:
        msgs.append(str(err.get("message", ""))[:200])
        match = _FIELD_INDEX.search(str(err.get("field") or ""))
        if match:
            idx.add(int(match.group(1)))
    return idx, msgs


class ProviderUnavailable(RuntimeError):
    """The provider did not answer a call that must succeed before anything is sent."""


class EmailClient:
    """SendGrid sender for the delivery engine.

    With `sendgrid_send_at_lead_seconds` (the default) every batch is a SendGrid batch: its id
    comes from `POST /v3/mail/batch`, is recorded in the ledger before the request, and the
    request is scheduled `send_at` that far ahead. A request whose answer is lost (dropped
    connection, read timeout, a crash) is cancelled through the scheduled-sends API while that is
    still allowed (up to `sendgrid_cancel_deadline_seconds` before `send_at`) and sent again
    under a new batch: a cancelled batch's messages are discarded by SendGrid, so nobody gets two
    and nobody is lost. The Email Activity look-up (a paid add-on) is used when enabled: found →
    sent; not found only counts once `lookup_settle_seconds` have passed since the batch's send
    time."""

    channel = "email"

    def __init__(self, cfg: DeliveryConfig, base_url: str | None = None, *, sleep=time.sleep, now=None):
        self.cfg = cfg
        self.base_url = (base_url or cfg.sendgrid_base_url).rstrip("/")
        self.parallel_batches = max(1, cfg.sendgrid_concurrency)
        self.max_resends = max(1, cfg.retry.max_attempts)  # cancelled batches sent again, per batch
        self.bucket = TokenBucket(cfg.sendgrid_rate, burst=self.parallel_batches)
        self._local = threading.local()
        self._sleep = sleep
        self._now = now or (lambda: datetime.now(UTC))
        self._api_key = cfg.secret("SENDGRID_API_KEY")
        self.sample: dict | None = None
        self._sample_lock = threading.Lock()

    # one SDK client per thread (python_http_client mutates its header dict)
    def _sdk(self) -> SendGridAPIClient:
        sdk = getattr(self._local, "sdk", None)
        if sdk is None:
            sdk = SendGridAPIClient(api_key=self._api_key, host=self.base_url)
            self._local.sdk = sdk
        return sdk

    def batches(self, messages: Iterable[Any]) -> Iterator[list[Any]]:
        for batch in plan_email_batches(
            messages, min(self.cfg.sendgrid_batch, MAX_PERSONALIZATIONS), bool(self.cfg.template_id)
        ):
            if self.cfg.mode == "live" and unsubscribe_group(batch[0], self.cfg) is None:
                raise DeliveryConfigError(
                    f"campaign {batch[0].campaign_id!r}: live marketing email needs an unsubscribe group "
                    "(SendGrid asm.group_id): set email_unsubscribe_group for the campaign in the plan, "
                    "or CRM_SENDGRID_ASM_GROUP_ID; nothing of this campaign was sent"
                )
            yield batch

    # ------------------------------------------------------------------ provider calls
    def _call(self, fn: Callable[[], Any], what: str, attempts: list | None = None) -> Any:
        """One small API call (batch id, cancel, look-up) with the retry policy; a dropped
        connection is retried too (these calls change nothing twice). Raises `Retry` when retries
        ran out, the SDK's HTTPError on a permanent answer. Appends the attempts made to
        `attempts` when given."""

        def attempt():
            self.bucket.acquire()
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified below, unknown ones re-raised
                outcome, retry_after, reason = _classify(exc)
                if outcome == RequestOutcome.PERMANENT:
                    raise
                if retry_after:
                    self.bucket.pause_until(time.monotonic() + retry_after)
                raise Retry(f"{what}: {reason}", retry_after) from exc

        policy = retrying(self.cfg.retry, self._sleep)
        try:
            return policy(attempt)
        finally:
            if attempts is not None:
                attempts.append(attempts_of(policy))

    def open_batch(self, messages: Sequence[Any] = ()) -> BatchTicket:
        """A SendGrid batch id and its send time, or (no scheduling) a local batch id. The send
        time is now + the lead, or the messages' own later send time (`not_before`: the batches
        group messages by it), at most SendGrid's 72 hours ahead."""
        lead = self.cfg.sendgrid_send_at_lead_seconds
        wanted = max(
            (nb for m in messages if (nb := getattr(m, "not_before", None)) is not None), default=None
        )
        now = self._now()
        if wanted is not None and wanted - now > MAX_SCHEDULE_AHEAD:
            raise DeliveryConfigError(
                f"campaign {messages[0].campaign_id!r}: send time {wanted.isoformat()} is more than SendGrid's 72 "
                "hours ahead; nothing of this batch was sent"
            )
        if not lead:
            return BatchTicket(new_batch_id(self.channel))
        attempts: list[int] = []
        try:
            resp = self._call(lambda: self._sdk().client.mail.batch.post(), "create batch id", attempts)
        except (Retry, sg_exc.HTTPError) as exc:
            raise ProviderUnavailable(
                f"SendGrid: no batch id from POST /v3/mail/batch ({exc}); nothing more was sent, "
                "what was sent is in the ledger: run again when SendGrid answers"
            ) from exc
        batch_id = str(json.loads(resp.body or b"{}")["batch_id"])
        # whole seconds: send_at is a UNIX timestamp, and the ledger keeps the same instant
        at = self._now().replace(microsecond=0) + timedelta(seconds=lead)
        if wanted is not None and wanted > at:
            at = wanted.astimezone(UTC).replace(microsecond=0)
        return BatchTicket(batch_id, at, requests=attempts[0], retries=attempts[0] - 1)

    def _cancellable(self, scheduled_at: datetime | None) -> bool:
        if scheduled_at is None:
            return False
        at = scheduled_at if scheduled_at.tzinfo else scheduled_at.replace(tzinfo=UTC)
        return self._now() < at - timedelta(seconds=self.cfg.sendgrid_cancel_deadline_seconds)

    def _cancel(self, batch_id: str) -> bool:
        """Cancel a scheduled batch; True once SendGrid holds it as cancelled."""
        body = {"batch_id": batch_id, "status": "cancel"}
        try:
            self._call(lambda: self._sdk().client.user.scheduled_sends.post(request_body=body), "cancel")
            return True
        except Retry:
            return False
        except sg_exc.HTTPError:
            # e.g. a cancel that went through before a crash: ask for the batch's status
            try:
                resp = self._call(
                    lambda: self._sdk().client.user.scheduled_sends._(batch_id).get(), "scheduled send"
                )
            except (Retry, sg_exc.HTTPError):
                return False
            data = json.loads(resp.body or b"[]")
            items = data if isinstance(data, list) else [data]
            return any(i.get("batch_id") == batch_id and i.get("status") == "cancel" for i in items)

    def _lookup_batch(self, batch_id: str) -> dict[str, str] | None:
        """Email Activity API: {to_email: msg_id} of messages carrying this batch id, None on error."""
        query = f"unique_args['batch_id']=\"{batch_id}\""
        try:
            resp = self._call(
                lambda: self._sdk().client.messages.get(query_params={"query": query, "limit": 1000}),
                "activity look-up",
            )
        except (Retry, sg_exc.HTTPError):
            return None
        data = json.loads(resp.body or b"{}")
        return {str(r["to_email"]).lower(): str(r.get("msg_id") or "") for r in data.get("messages", [])}

    def _settled(self, sent_at: datetime) -> bool:
        """Has the Activity feed had `lookup_settle_seconds` since this batch's send time?"""
        at = sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=UTC)
        return (self._now() - at).total_seconds() >= self.cfg.lookup_settle_seconds

    def _unconfirmed(
        self, batch_id: str, scheduled_at: datetime | None, sent_at: datetime
    ) -> tuple[str, dict[str, str] | None, str]:
        """The fate of a request whose answer never came: ("sent", found, why) when the Activity
        feed shows it; ("not_sent", None, why) when it provably will not be delivered (cancelled
        in time, or absent from a settled feed); ("unknown", None, why) otherwise."""
        why = []
        if self.cfg.sendgrid_activity_lookup:
            found = self._lookup_batch(batch_id)
            if found:
                return "sent", found, "reconciled"
            if found is not None and self._settled(scheduled_at or sent_at):
                return "not_sent", None, "reconciled_not_sent"
            why.append("activity look-up failed" if found is None else "not in the Activity feed yet")
        if self._cancellable(scheduled_at):
            if self._cancel(batch_id):
                return "not_sent", None, "cancelled_unconfirmed"
            why.append("cancel failed")
        elif scheduled_at is not None:
            why.append("past SendGrid's cancel deadline")
        else:
            why.append("not scheduled, cannot be cancelled")
        if not self.cfg.sendgrid_activity_lookup:
            why.append("no Email Activity look-up")
        return "unknown", None, "; ".join(why)

    def _post(self, body: dict) -> tuple[str, Any, float | None, str]:
        """One attempt: (RequestOutcome, response-or-error-body, retry_after, reason)."""
        self.bucket.acquire()
        try:
            resp = self._sdk().send(body)
        except Exception as exc:  # noqa: BLE001 - classified below, unknown ones re-raised
            outcome, retry_after, reason = _classify(exc)
            if outcome == RequestOutcome.RETRY and retry_after:
                self.bucket.pause_until(time.monotonic() + retry_after)
            return outcome, getattr(exc, "body", None), retry_after, reason
        return RequestOutcome.OK, resp, None, "accepted"

    def send_batch(self, ticket: BatchTicket, messages: Sequence[Any]) -> BatchResult:
        batch_id = ticket.batch_id
        result = BatchResult(outcomes=[])
        todo = list(messages)
        while todo:
            body = build_mail_body(todo, self.cfg, batch_id, send_at=ticket.scheduled_at, now=self._now())
            if self.sample is None:
                with self._sample_lock:
                    if self.sample is None:
                        self.sample = _sample_of(body)

            def attempt(body=body):
                outcome, payload, retry_after, reason = self._post(body)
                if outcome == RequestOutcome.RETRY:
                    raise Retry(reason, retry_after)
                return outcome, payload, reason

            sent_at = self._now()
            policy = retrying(self.cfg.retry, self._sleep)
            try:
                outcome, payload, reason = policy(attempt)
            except Retry as exc:  # SendGrid accepted none of the attempts: a rerun may send these
                result.requests += attempts_of(policy)
                result.retries += attempts_of(policy) - 1
                result.outcomes.extend(
                    Outcome(m.send_id, "failed", reason=f"gave_up: {exc.reason}", retryable=True)
                    for m in todo
                )
                return result
            result.requests += attempts_of(policy)
            result.retries += attempts_of(policy) - 1
            if outcome == RequestOutcome.OK:
                msg_id = (payload.headers.get("X-Message-Id") if payload is not None else None) or None
                result.outcomes.extend(Outcome(m.send_id, "sent", provider_id=msg_id) for m in todo)
                return result
            if outcome == RequestOutcome.PERMANENT:
                if reason == "http_400":
                    idx, errors = _error_fields(payload)
                    bad = [todo[i] for i in sorted(idx) if i < len(todo)]
                    if bad:
                        for m in bad:
                            why = "invalid_email"
                            result.outcomes.append(
                                Outcome(m.send_id, "failed", reason=why, suppress_reason=why)
                            )
                            result.suppress.append(("email", m.to, why, m.customer_id, "sendgrid_400"))
                        todo = [m for i, m in enumerate(todo) if i not in idx]
                        continue  # the request was rejected whole: nothing was sent, send the rest
                    why = "rejected: " + "; ".join(errors)[:200]
                    result.outcomes.extend(Outcome(m.send_id, "failed", reason=why) for m in todo)
                    return result
                # 401/403/413...: the provider accepted nothing; a rerun may send these
                result.outcomes.extend(
                    Outcome(m.send_id, "failed", reason=reason, retryable=True) for m in todo
                )
                return result
            # AMBIGUOUS: the request may have been accepted; never post it again blindly
            fate, found, why = self._unconfirmed(batch_id, ticket.scheduled_at, sent_at)
            if fate == "sent":
                result.outcomes.extend(
                    Outcome(m.send_id, "sent", reason=why, provider_id=(found or {}).get(m.to.lower()))
                    for m in todo
                )
            elif fate == "not_sent" and why == "cancelled_unconfirmed":
                # cancelled: SendGrid discards whatever it got; send again under a new batch
                result.outcomes.extend(Outcome(m.send_id, "failed", reason=why, retryable=True) for m in todo)
                result.resend.extend(todo)
            elif fate == "not_sent":
                continue  # absent from a settled Activity feed: not accepted, post it again
            else:
                result.outcomes.extend(
                    Outcome(m.send_id, "ambiguous", reason=f"{reason}: {why}") for m in todo
                )
            return result
        return result

    def reconcile(self, rows: Sequence[PendingRow]) -> list[Outcome]:
        """Unresolved rows (a crashed run's `pending`, earlier `ambiguous`), per batch: seen in
        the Activity feed → sent; cancelled in time or absent from a settled feed → released
        (sent again in this run); otherwise they stay ambiguous."""
        by_batch: dict[str, list[PendingRow]] = {}
        for r in rows:
            by_batch.setdefault(r.batch_id, []).append(r)
        out: list[Outcome] = []
        for batch_id, batch in by_batch.items():
            scheduled = batch[0].scheduled_at
            fate, found, why = self._unconfirmed(batch_id, scheduled, max(r.intent_at for r in batch))
            for r in batch:
                if fate == "sent":
                    pid = (found or {}).get(r.address.lower())
                    out.append(Outcome(r.send_id, "sent", reason="reconciled", provider_id=pid))
                elif fate == "not_sent":
                    out.append(Outcome(r.send_id, "failed", reason=why, retryable=True))
                else:
                    out.append(Outcome(r.send_id, "ambiguous", reason=f"crashed_in_flight: {why}"))
        return out

    def close(self) -> None:
        self._local = threading.local()


MAX_MESSAGE_BYTES = 30 * 1024 * 1024  # SendGrid: a whole message, attachments included, at most 30 MB


def build_files_body(
    to: Sequence[str],
    subject: str,
    text: str,
    attachments: Sequence[tuple[str, bytes, str]],
    *,
    sender: str,
    sender_name: str,
    custom_args: dict[str, str],
) -> dict[str, Any]:
    """The v3 mail-send JSON of one email carrying files (pure): one personalization per address
    (nobody sees the others), each attachment (name, bytes, MIME type) base64-encoded."""
    size = sum(len(data) for _, data, _ in attachments)
    if size * 4 // 3 > MAX_MESSAGE_BYTES:
        raise DeliveryConfigError(
            f"{size:,} bytes of attachments exceed SendGrid's 30 MB message limit: deliver these files by sftp"
        )
    return {
        "from": {"email": sender, "name": sender_name},
        "personalizations": [{"to": [{"email": a}], "custom_args": dict(custom_args)} for a in to],
        "subject": subject,
        "content": [{"type": "text/plain", "value": text}],
        "attachments": [
            {
                "content": base64.b64encode(data).decode("ascii"),
                "filename": name,
                "type": mime,
                "disposition": "attachment",
            }
            for name, data, mime in attachments
        ],
        "categories": ["crmloop-files"],
    }


def send_files_email(client: EmailClient, body: dict[str, Any]) -> tuple[str, str | None, int, str]:
    """Post one files email through the client's SendGrid SDK with the retry policy (429, 5xx and
    refused connections are retried; an answer lost after the request was sent is never
    repeated). Returns (status sent | failed | ambiguous, X-Message-Id, attempts, reason)."""

    def attempt():
        outcome, payload, retry_after, reason = client._post(body)
        if outcome == RequestOutcome.RETRY:
            raise Retry(reason, retry_after)
        return outcome, payload, reason

    policy = retrying(client.cfg.retry, client._sleep)
    try:
        outcome, payload, reason = policy(attempt)
    except Retry as exc:
        return "failed", None, attempts_of(policy), f"gave_up: {exc.reason}"
    attempts = attempts_of(policy)
    if outcome == RequestOutcome.OK:
        msg_id = (payload.headers.get("X-Message-Id") if payload is not None else None) or None
        return "sent", msg_id, attempts, "accepted"
    if outcome == RequestOutcome.PERMANENT:
        return "failed", None, attempts, reason
    return "ambiguous", None, attempts, reason


def _sample_of(body: dict) -> dict:
    """A rendered sample (first personalization, content filled in) for Dagster metadata."""
    p = dict(body["personalizations"][0])
    subs = p.pop("substitutions", {}) or {}
    content = []
    for part in body.get("content", []):
        value = part["value"]
        for tag, val in subs.items():
            value = value.replace(tag, val)
        content.append({"type": part["type"], "value": value[:2000]})
    return {"from": body.get("from"), "personalization": p, "content": content, "asm": body.get("asm")}
