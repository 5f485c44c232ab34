"""SMS through Twilio Programmable Messaging: the one module that imports the `twilio` SDK.

E.164 mobiles only, sent through a messaging service, a StatusCallback to the webhook receiver
tagged with the send id and batch id (segments and cost are counted once, by the plan side:
`activations.plan.templates.sms_segments`). The SDK is pointed
at a configurable base URL (a local fake in tests, the sandbox sink by default) through a
custom `http_client` that rewrites `https://api.twilio.com`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from activations.delivery.engine import BatchResult, BatchTicket, new_batch_id
from activations.delivery.ledger import Outcome, PendingRow, content_hash
from activations.delivery.resilience import (
    RequestOutcome,
    Retry,
    TokenBucket,
    attempts_of,
    parse_retry_after,
    retrying,
)
from crmloop.settings import DeliveryConfig

TWILIO_API = "https://api.twilio.com"
E164 = re.compile(r"^\+[1-9]\d{7,14}$")

# Twilio error code -> (ledger reason, suppression-list reason or None)
PERMANENT_CODES: dict[int, tuple[str, str | None]] = {
    21211: ("invalid_number", "invalid_number"),
    21610: ("sms_stop", "sms_stop"),
    21614: ("landline", "landline"),
    21408: ("region_not_enabled", None),
    21612: ("unreachable_route", None),
}
RATE_LIMIT_CODES = {20429, 14107}


class _BaseUrlHttpClient(TwilioHttpClient):
    """TwilioHttpClient that sends to `base_url` instead of https://api.twilio.com and keeps
    the last response headers per thread (the SDK's exception does not carry Retry-After)."""

    def __init__(self, base_url: str, timeout: float, pool_size: int):
        super().__init__(pool_connections=True, timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self._tls = threading.local()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(4, pool_size))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def request(
        self,
        method,
        url,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ):
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        self._tls.headers = None
        resp = super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        self._tls.headers = resp.headers
        return resp

    @property
    def last_headers(self):
        return getattr(self._tls, "headers", None)


def _transport_kind(exc: BaseException) -> str:
    """RETRY when the request certainly did not reach Twilio, AMBIGUOUS when it may have."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return RequestOutcome.RETRY
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = repr(exc)
        if "NewConnectionError" in text or "Connection refused" in text or "NameResolution" in text:
            return RequestOutcome.RETRY
        return RequestOutcome.AMBIGUOUS
    return RequestOutcome.AMBIGUOUS  # ReadTimeout, ChunkedEncodingError...


class SmsClient:
    """Twilio sender for the delivery engine."""

    channel = "sms"

    def __init__(self, cfg: DeliveryConfig, base_url: str | None = None, *, sleep=time.sleep, now=None):
        self.cfg = cfg
        self.base_url = (base_url or cfg.twilio_base_url).rstrip("/")
        self.parallel_batches = 2
        # a small burst lets a worker that was late catch up, so the long-run rate is the configured one
        self.bucket = TokenBucket(
            cfg.twilio_rate, burst=min(max(1, cfg.twilio_concurrency), max(2.0, cfg.twilio_rate * 0.02))
        )
        self._sleep = sleep
        self._now = now or (lambda: datetime.now(UTC))
        self.account_sid = cfg.secret("TWILIO_ACCOUNT_SID")
        self.service_sid = cfg.secret("TWILIO_MESSAGING_SERVICE_SID")
        self._http = _BaseUrlHttpClient(self.base_url, cfg.retry.timeout_seconds, cfg.twilio_concurrency * 2)
        self._client = Client(self.account_sid, cfg.secret("TWILIO_AUTH_TOKEN"), http_client=self._http)
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, cfg.twilio_concurrency), thread_name_prefix="twilio"
        )
        self.sample: dict | None = None

    def batches(self, messages: Iterable[Any]) -> Iterator[list[Any]]:
        batch: list = []
        for m in messages:
            batch.append(m)
            if len(batch) >= self.cfg.sms_ledger_batch:
                yield batch
                batch = []
        if batch:
            yield batch

    def open_batch(self, messages: Sequence[Any] = ()) -> BatchTicket:
        """A local batch id: Twilio has no batches (each message is looked up by recipient)."""
        return BatchTicket(new_batch_id(self.channel))

    def status_callback(self, send_id: str, batch_id: str) -> str:
        return f"{self.cfg.status_callback_url}?{urlencode({'send_id': send_id, 'batch_id': batch_id})}"

    def create_params(self, m: Any, batch_id: str) -> dict[str, Any]:
        """Keyword arguments for `messages.create` (pure but for the clock)."""
        params: dict[str, Any] = {
            "to": m.to,
            "body": m.sms_body or "",
            "messaging_service_sid": self.service_sid,
            "status_callback": self.status_callback(m.send_id, batch_id),
        }
        nb = getattr(m, "not_before", None)
        if nb is not None and nb - self._now() >= timedelta(minutes=15):
            params["send_at"] = nb  # Twilio scheduling: 15 min to 35 days ahead, via a messaging service
            params["schedule_type"] = "fixed"
        return params

    def send_batch(self, ticket: BatchTicket, messages: Sequence[Any]) -> BatchResult:
        batch_id = ticket.batch_id
        started = self._now()
        results = list(self._pool.map(lambda m: self._send_one_safe(batch_id, m, started), messages))
        out = BatchResult(outcomes=[r[0] for r in results])
        for _outcome, sup, reqs, retries in results:
            if sup:
                out.suppress.append(sup)
            out.requests += reqs
            out.retries += retries
        return out

    def _send_one_safe(self, batch_id: str, m: Any, started: datetime):
        try:
            return self._send_one(batch_id, m, started)
        except Exception as exc:  # noqa: BLE001 - an unexpected error: this message's fate is unknown
            return Outcome(m.send_id, "ambiguous", reason=f"client_error: {exc!r}"[:300]), None, 1, 0

    def _send_one(self, batch_id: str, m: Any, started: datetime):
        if not E164.match(m.to or ""):
            return (
                Outcome(m.send_id, "failed", reason="invalid_number", suppress_reason="invalid_number"),
                ("sms", m.to or "", "invalid_number", m.customer_id, "e164_check"),
                0,
                0,
            )
        params = self.create_params(m, batch_id)
        nb = getattr(m, "not_before", None)
        if "send_at" not in params and nb is not None:
            wait = (nb - self._now()).total_seconds()
            if wait > 0:
                self._sleep(wait)  # quiet hours end within 15 minutes: hold, then send
        if self.sample is None:
            self.sample = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in params.items()}
        policy = retrying(self.cfg.retry, self._sleep)
        sid = m.send_id

        def attempt():
            """(outcome, suppression row) of one request; raises Retry when Twilio certainly
            did not accept it (rate limit, 5xx, refused connection, or looked up and absent)."""
            self.bucket.acquire()
            try:
                msg = self._client.messages.create(**params)
                return Outcome(sid, "sent", provider_id=msg.sid), None
            except TwilioRestException as exc:
                code = int(exc.code or 0)
                if exc.status == 429 or code in RATE_LIMIT_CODES or exc.status >= 500:
                    retry_after = parse_retry_after(self._http.last_headers)
                    if retry_after:
                        self.bucket.pause_until(time.monotonic() + retry_after)
                    raise Retry(f"twilio_{code or exc.status}", retry_after) from exc
                if code in PERMANENT_CODES:
                    why, sup = PERMANENT_CODES[code]
                    row = ("sms", m.to, sup, m.customer_id, f"twilio_{code}") if sup else None
                    return Outcome(sid, "failed", reason=why, suppress_reason=sup), row
                if exc.status in (401, 403):
                    return Outcome(sid, "failed", reason=f"http_{exc.status}", retryable=True), None
                return Outcome(sid, "failed", reason=f"twilio_{code or exc.status}"), None
            except requests.exceptions.RequestException as exc:
                reason = f"transport: {type(exc).__name__}"
                if _transport_kind(exc) == RequestOutcome.RETRY:
                    raise Retry(reason) from exc
                # the request may have reached Twilio: its message list shows a created message
                # at once (no settle wait), so look before sending again
                found = self._lookup(m.to, content_hash(m.sms_body), started - timedelta(minutes=2))
                if found is None:
                    return Outcome(sid, "ambiguous", reason=reason), None
                if found:
                    return Outcome(sid, "sent", provider_id=found, reason="reconciled"), None
                raise Retry(reason) from exc

        try:
            outcome, row = policy(attempt)
        except Retry as exc:
            n = attempts_of(policy)
            return Outcome(sid, "failed", reason=f"gave_up: {exc.reason}", retryable=True), None, n, n - 1
        n = attempts_of(policy)
        return outcome, row, n, n - 1

    def _lookup(self, to: str, body_hash: str, since: datetime) -> str | None:
        """sid of a message to `to` whose body hashes to `body_hash`, created since `since`;
        "" if there is none; None if Twilio could not be asked."""
        policy = retrying(self.cfg.retry, self._sleep)

        def attempt() -> str | None:
            self.bucket.acquire()
            try:
                for msg in self._client.messages.list(to=to, limit=50, page_size=50):
                    created = msg.date_created
                    if (
                        content_hash(msg.body) == body_hash
                        and (msg.messaging_service_sid in (None, self.service_sid))
                        and (created is None or created >= since)
                    ):
                        return msg.sid
                return ""
            except TwilioRestException as exc:
                if exc.status != 429 and exc.status < 500:
                    return None
                raise Retry(f"twilio_{exc.status}", parse_retry_after(self._http.last_headers)) from exc
            except (TwilioException, requests.exceptions.RequestException) as exc:
                # a list page that failed (5xx, dropped): ask again
                raise Retry(type(exc).__name__, parse_retry_after(self._http.last_headers)) from exc

        try:
            return policy(attempt)
        except Retry:
            return None

    def reconcile(self, rows: Sequence[PendingRow]) -> list[Outcome]:
        """A crashed run's pending SMS: a message to the same number with the same body (by
        hash), created after the intent, means it was sent; none means it never left."""

        def one(r: PendingRow) -> Outcome:
            if not r.content_hash:
                return Outcome(r.send_id, "ambiguous", reason="crashed_in_flight: body unknown")
            since = r.intent_at.replace(tzinfo=UTC) - timedelta(minutes=2)
            found = self._lookup(r.address, r.content_hash, since)
            if found is None:
                return Outcome(r.send_id, "ambiguous", reason="crashed_in_flight: lookup failed")
            if found:
                return Outcome(r.send_id, "sent", provider_id=found, reason="reconciled")
            return Outcome(r.send_id, "failed", reason="reconciled_not_sent", retryable=True)

        return list(self._pool.map(one, rows))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.session.close()
