"""Email through SendGrid v3 mail send: the one module that imports the `sendgrid` SDK.

One request carries up to 1,000 personalizations (each address once per request), the
per-person subject and body as substitutions into inline content (or a dynamic template),
`custom_args` with campaign id, send id and batch id, and the unsubscribe group (`asm`).
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.error
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC
from typing import Any

from python_http_client import exceptions as sg_exc
from sendgrid import SendGridAPIClient

from activations.delivery.config import DeliveryConfig
from activations.delivery.engine import BatchResult
from activations.delivery.ledger import Outcome, PendingRow
from activations.delivery.resilience import Backoff, RequestOutcome, TokenBucket, parse_retry_after

# python_http_client logs request headers (the API key) at DEBUG: never let that through.
for _name in ("python_http_client", "python_http_client.client"):
    if logging.getLogger(_name).level < logging.INFO:
        logging.getLogger(_name).setLevel(logging.INFO)

MAX_PERSONALIZATIONS = 1000
MAX_SUBSTITUTION_BYTES = 10_000  # SendGrid: substitutions per personalization
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


def build_mail_body(messages: Sequence[Any], cfg: DeliveryConfig, batch_id: str) -> dict[str, Any]:
    """The v3 mail-send JSON for one batch (pure). All messages share campaign and sender."""
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
    if cfg.asm_group_id:
        body["asm"] = {"group_id": int(cfg.asm_group_id)}
    return body


def plan_email_batches(
    messages: Iterable[Any], max_size: int = MAX_PERSONALIZATIONS, template: bool = False
) -> Iterator[list[Any]]:
    """Group messages into requests: same campaign/sender/date, ≤ max_size, each address once.

    Streams: keeps one open batch per group; an address repeated within a group moves to the
    next batch of that group."""
    open_batches: dict[tuple, tuple[list, set]] = {}
    overflow: dict[tuple, list] = {}
    for m in messages:
        if not template and not fits_substitutions(m):
            yield [m]
            continue
        key = (m.campaign_id, m.sender, m.sender_name, m.send_date)
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


class EmailClient:
    """SendGrid sender for the delivery engine."""

    channel = "email"

    def __init__(self, cfg: DeliveryConfig, base_url: str | None = None, *, sleep=time.sleep):
        self.cfg = cfg
        self.base_url = (base_url or cfg.sendgrid_base_url).rstrip("/")
        self.parallel_batches = max(1, cfg.sendgrid_concurrency)
        self.bucket = TokenBucket(cfg.sendgrid_rate, burst=self.parallel_batches)
        self.backoff = Backoff(cfg.retry)
        self._local = threading.local()
        self._sleep = sleep
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
        return plan_email_batches(
            messages, min(self.cfg.sendgrid_batch, MAX_PERSONALIZATIONS), bool(self.cfg.template_id)
        )

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

    def send_batch(self, batch_id: str, messages: Sequence[Any]) -> BatchResult:
        result = BatchResult(outcomes=[])
        todo = list(messages)
        attempt = 0
        while todo:
            body = build_mail_body(todo, self.cfg, batch_id)
            if self.sample is None:
                with self._sample_lock:
                    if self.sample is None:
                        self.sample = _sample_of(body)
            attempt += 1
            result.requests += 1
            outcome, payload, retry_after, reason = self._post(body)
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
                        attempt = 0  # the request was rejected whole: nothing was sent, send the rest
                        continue
                    why = "rejected: " + "; ".join(errors)[:200]
                    result.outcomes.extend(Outcome(m.send_id, "failed", reason=why) for m in todo)
                    return result
                # 401/403/413...: the provider accepted nothing; a rerun may send these
                result.outcomes.extend(
                    Outcome(m.send_id, "failed", reason=reason, retryable=True) for m in todo
                )
                return result
            if outcome == RequestOutcome.AMBIGUOUS:
                if not self.cfg.sendgrid_activity_lookup:
                    result.outcomes.extend(Outcome(m.send_id, "ambiguous", reason=reason) for m in todo)
                    return result
                found = self._lookup_batch(batch_id, wait=True)
                if found is None:
                    result.outcomes.extend(Outcome(m.send_id, "ambiguous", reason=reason) for m in todo)
                    return result
                done = [m for m in todo if m.to.lower() in found]
                result.outcomes.extend(
                    Outcome(m.send_id, "sent", provider_id=found[m.to.lower()]) for m in done
                )
                todo = [m for m in todo if m.to.lower() not in found]
                if not todo:
                    return result
            if attempt >= self.cfg.retry.max_attempts:
                result.outcomes.extend(
                    Outcome(m.send_id, "failed", reason=f"gave_up: {reason}", retryable=True) for m in todo
                )
                return result
            result.retries += 1
            self._sleep(self.backoff.delay(attempt, retry_after))
        return result

    def _lookup_batch(self, batch_id: str, wait: bool) -> dict[str, str] | None:
        """Email Activity API: {to_email: msg_id} of messages carrying this batch id, None on error."""
        if wait and self.cfg.lookup_settle_seconds:
            self._sleep(self.cfg.lookup_settle_seconds)
        query = f"unique_args['batch_id']=\"{batch_id}\""
        for attempt in range(1, self.cfg.retry.max_attempts + 1):
            self.bucket.acquire()
            try:
                resp = self._sdk().client.messages.get(query_params={"query": query, "limit": 1000})
                data = json.loads(resp.body or b"{}")
                return {
                    str(r["to_email"]).lower(): str(r.get("msg_id") or "") for r in data.get("messages", [])
                }
            except Exception as exc:  # noqa: BLE001
                outcome, retry_after, _ = _classify(exc)
                if outcome == RequestOutcome.PERMANENT:
                    return None
                self._sleep(self.backoff.delay(attempt, retry_after))
        return None

    def reconcile(self, rows: Sequence[PendingRow]) -> list[Outcome]:
        """Pending rows of a crashed run: look them up if the Activity API is enabled, else ambiguous."""
        if not self.cfg.sendgrid_activity_lookup:
            return [
                Outcome(r.send_id, "ambiguous", reason="crashed_in_flight: no lookup for SendGrid")
                for r in rows
            ]
        by_batch: dict[str, list[PendingRow]] = {}
        for r in rows:
            by_batch.setdefault(r.batch_id, []).append(r)
        out: list[Outcome] = []
        for batch_id, batch in by_batch.items():
            found = self._lookup_batch(batch_id, wait=False)
            settled = _age_seconds(batch) >= self.cfg.lookup_settle_seconds
            for r in batch:
                if found is None:
                    out.append(Outcome(r.send_id, "ambiguous", reason="crashed_in_flight: lookup failed"))
                elif r.address.lower() in found:
                    out.append(
                        Outcome(r.send_id, "sent", reason="reconciled", provider_id=found[r.address.lower()])
                    )
                elif settled:
                    out.append(Outcome(r.send_id, "failed", reason="reconciled_not_sent", retryable=True))
                else:
                    out.append(
                        Outcome(r.send_id, "ambiguous", reason="crashed_in_flight: lookup not settled")
                    )
        return out

    def close(self) -> None:
        self._local = threading.local()


def _age_seconds(rows: Sequence[PendingRow]) -> float:
    from datetime import datetime

    newest = max(r.intent_at for r in rows)
    return (datetime.now(UTC).replace(tzinfo=None) - newest).total_seconds()


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
