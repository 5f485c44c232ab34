"""Fake SendGrid, Twilio and Meta servers on 127.0.0.1 implementing each provider's contract.

Each fake records what it received (so tests can assert exactly-once) and has fault knobs:
- `latency`: seconds added to every response
- `error_rate`: share of requests answered with a 5xx (`error_statuses`)
- `drop_rate`: share of connections closed without a response; `drop_after_processing`
  decides whether the request was processed (recorded) before the drop
- `storm(n, retry_after)`: the next n requests get 429 with Retry-After / X-RateLimit-Reset
Only the network edge is faked: the official SDKs talk to these over real HTTP.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlsplit

DROP = object()
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
E164_RE = re.compile(r"^\+[1-9]\d{7,14}$")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that went away (killed, timed out): part of the game here
        super().handle_error(request, client_address)


class FakeServer(ABC):
    """Base: HTTP plumbing, fault injection, stats. Subclasses implement `handle`."""

    name = "fake"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        drop_after_processing: bool = False,
        error_statuses=(500, 502, 503),
        seed: int = 7,
        record_bodies: bool = True,
    ):
        self.latency = latency
        self.error_rate = error_rate
        self.drop_rate = drop_rate
        self.drop_after_processing = drop_after_processing
        self.error_statuses = tuple(error_statuses)
        self.record_bodies = record_bodies
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.storm_left = 0
        self.storm_retry_after = 1.0
        self.stats: Counter = Counter()
        self.request_times: list[float] = []
        self.received: Counter = Counter()
        self._seen: set[int] = set()
        self._dups = 0
        self._deliveries = 0
        self._server: ThreadingHTTPServer | None = None

    # --- knobs
    def storm(self, n: int, retry_after: float = 1.0) -> None:
        with self.lock:
            self.storm_left = n
            self.storm_retry_after = retry_after

    def _fault(self) -> str | None:
        with self.lock:
            if self.storm_left > 0:
                self.storm_left -= 1
                return "storm"
            r = self.rng.random()
            if r < self.drop_rate:
                return "drop"
            if r < self.drop_rate + self.error_rate:
                return "error"
        return None

    @abstractmethod
    def rate_limited(self, retry_after: float) -> tuple[int, dict, object]:
        """(status, headers, body) of this provider's rate-limit answer."""

    @abstractmethod
    def handle(self, method: str, path: str, query: dict, headers, body: bytes):
        """(status, headers, body) for one request that passed fault injection."""

    # --- server
    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                return

            def _go(self, method):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                parts = urlsplit(self.path)
                if parts.path == "/_fake/stats":
                    return self._send(200, {}, fake.snapshot())
                fault = fake._fault()
                with fake.lock:
                    fake.stats["requests"] += 1
                    fake.request_times.append(time.monotonic())
                if fake.latency:
                    time.sleep(fake.latency)
                if fault == "storm":
                    with fake.lock:
                        fake.stats["429"] += 1
                    return self._send(*fake.rate_limited(fake.storm_retry_after))
                if fault == "error":
                    status = fake.rng.choice(fake.error_statuses)
                    with fake.lock:
                        fake.stats[str(status)] += 1
                    return self._send(status, {}, {"errors": [{"message": "internal error", "field": None}]})
                if fault == "drop" and not fake.drop_after_processing:
                    with fake.lock:
                        fake.stats["dropped"] += 1
                    self.close_connection = True
                    return None
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                status, headers, payload = fake.handle(method, parts.path, query, self.headers, body)
                if fault == "drop":
                    with fake.lock:
                        fake.stats["dropped_after_processing"] += 1
                    self.close_connection = True
                    return None
                return self._send(status, headers, payload)

            def _send(self, status, headers, payload):
                data = (
                    b""
                    if payload is None
                    else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, str(v))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._go("GET")

            def do_POST(self):
                self._go("POST")

            def do_DELETE(self):
                self._go("DELETE")

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name=f"fake-{self.name}", daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def snapshot(self) -> dict:
        with self.lock:
            return {"stats": dict(self.stats)}

    def _count(self, key: tuple) -> None:
        """Count one delivery (caller holds the lock). Compact mode (record_bodies=False, for
        benchmarks) keeps 64-bit hashes only."""
        if self.record_bodies:
            self.received[key] += 1
            return
        h = hash(key)
        if h in self._seen:
            self._dups += 1
        else:
            self._seen.add(h)
        self._deliveries += 1

    def delivery_counts(self) -> tuple[int, int, int]:
        """(recipients, deliveries, duplicates); caller holds the lock."""
        if self.record_bodies:
            return (
                len(self.received),
                sum(self.received.values()),
                sum(v - 1 for v in self.received.values() if v > 1),
            )
        return len(self._seen), self._deliveries, self._dups


# ---------------------------------------------------------------------------- SendGrid
class FakeSendGrid(FakeServer):
    """POST /v3/mail/send (202 / 400 error bodies / 401 / 429), GET /v3/messages (Email Activity),
    and the Cancel Scheduled Sends API: POST /v3/mail/batch (201 {batch_id}), mail with
    `batch_id` + `send_at`, POST /v3/user/scheduled_sends {batch_id, status: cancel|pause} and
    GET /v3/user/scheduled_sends/{batch_id}.

    SendGrid's rules kept here: a `batch_id` on a mail must have been created; `send_at` at most
    72 h ahead; a batch cannot be cancelled later than `cancel_deadline` seconds before its
    `send_at` (400); one status per batch (a second POST is 400). A cancelled batch's messages are
    discarded when its send_at comes: they are taken out of `received` (never delivered). The
    Activity feed shows a message `activity_lag` seconds after its send time (send_at, or when
    accepted). (Compact mode, `record_bodies=False`, does not take cancelled batches back out.)"""

    name = "sendgrid"

    def __init__(
        self,
        api_key: str = "SG.test",
        *,
        invalid_addresses=(),
        cancel_deadline: float = 600.0,
        activity_lag: float = 0.0,
        clock=time.time,
        **kw,
    ):
        super().__init__(**kw)
        self.api_key = api_key
        self.invalid_addresses = {a.lower() for a in invalid_addresses}
        self.cancel_deadline = cancel_deadline
        self.activity_lag = activity_lag
        self.clock = clock
        self.by_batch: dict[str, dict[str, str]] = defaultdict(dict)
        self.batch_keys: dict[str, list[tuple]] = defaultdict(list)  # batch id -> delivery keys
        self.sent_time: dict[str, float] = {}  # batch id -> its send time (send_at, or when accepted)
        self.batch_ids: set[str] = set()
        self.send_at: dict[str, int] = {}  # batch id -> its send_at
        self.batch_status: dict[str, str] = {}  # batch id -> cancel | pause
        self.requests_bodies: list[dict] = []
        self.personalizations_per_request: list[int] = []

    def rate_limited(self, retry_after):
        reset = int(time.time() + retry_after)
        return (
            429,
            {
                "Retry-After": f"{retry_after:g}",
                "X-RateLimit-Limit": "600",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            },
            {"errors": [{"field": None, "message": "too many requests"}]},
        )

    def handle(self, method, path, query, headers, body):
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return (
                401,
                {},
                {
                    "errors": [
                        {
                            "field": None,
                            "message": "The provided authorization grant is invalid, expired, or revoked",
                        }
                    ]
                },
            )
        if method == "POST" and path == "/v3/mail/batch":
            batch_id = uuid.uuid4().hex
            with self.lock:
                self.batch_ids.add(batch_id)
                self.stats["batch_ids"] += 1
            return 201, {}, {"batch_id": batch_id}
        if path.startswith("/v3/user/scheduled_sends"):
            return self._scheduled_sends(method, path, body)
        if method == "GET" and path == "/v3/messages":
            m = re.search(r"unique_args\['batch_id'\]\s*=\s*\"([^\"]+)\"", query.get("query", ""))
            with self.lock:
                b = m.group(1) if m else None
                shown = (
                    b is not None and self.sent_time.get(b, float("inf")) + self.activity_lag <= self.clock()
                )
                found = dict(self.by_batch.get(b, {})) if shown else {}
            return (
                200,
                {},
                {
                    "messages": [
                        {
                            "msg_id": v,
                            "to_email": k,
                            "status": "delivered",
                            "from_email": "x",
                            "subject": "",
                            "opens_count": 0,
                            "clicks_count": 0,
                        }
                        for k, v in found.items()
                    ]
                },
            )
        if method != "POST" or path != "/v3/mail/send":
            return 404, {}, {"errors": [{"message": "not found"}]}
        try:
            data = json.loads(body)
        except ValueError:
            return 400, {}, {"errors": [{"field": None, "message": "Bad Request: invalid JSON"}]}
        pers = data.get("personalizations") or []
        errors = []
        if not pers:
            errors.append({"field": "personalizations", "message": "The personalizations field is required."})
        if len(pers) > 1000:
            errors.append(
                {
                    "field": "personalizations",
                    "message": "The personalizations field cannot have more than 1000 objects.",
                }
            )
        if not data.get("template_id") and not data.get("content"):
            errors.append(
                {
                    "field": "content",
                    "message": "Unless a valid template_id is provided, the content parameter is required.",
                }
            )
        batch_id = data.get("batch_id")
        if batch_id is not None and batch_id not in self.batch_ids:
            errors.append({"field": "batch_id", "message": "The batch_id is not valid."})
        send_at = data.get("send_at")
        if send_at is not None and (not isinstance(send_at, int) or send_at > self.clock() + 72 * 3600):
            errors.append({"field": "send_at", "message": "send_at must be a UNIX timestamp within 72 hours"})
        seen = set()
        for i, p in enumerate(pers):
            for j, to in enumerate(p.get("to") or []):
                addr = str(to.get("email", "")).lower()
                if not EMAIL_RE.match(addr) or addr in self.invalid_addresses:
                    errors.append(
                        {
                            "field": f"personalizations.{i}.to.{j}.email",
                            "message": "Does not contain a valid address.",
                            "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to",
                        }
                    )
                elif addr in seen:
                    errors.append(
                        {
                            "field": f"personalizations.{i}.to",
                            "message": "Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of ["
                            + addr
                            + "] in the personalizations.0.to field.",
                        }
                    )
                seen.add(addr)
        if errors:
            with self.lock:
                self.stats["400"] += 1
            return 400, {}, {"errors": errors}
        msg_id = uuid.uuid4().hex[:22]
        with self.lock:
            self.stats["accepted_requests"] += 1
            self.personalizations_per_request.append(len(pers))
            if self.record_bodies:
                self.requests_bodies.append(data)
            discarded = batch_id is not None and self.batch_status.get(batch_id) == "cancel"
            if batch_id is not None and send_at:
                self.send_at.setdefault(batch_id, send_at)
            for p in pers:
                ca = p.get("custom_args") or {}
                for to in p["to"]:
                    addr = to["email"].lower()
                    if discarded:  # a cancelled batch: SendGrid drops it at send_at
                        self.stats["discarded"] += 1
                        continue
                    key = (addr, ca.get("campaign_id"))
                    self._count(key)
                    if batch_id is not None and self.record_bodies:
                        self.batch_keys[batch_id].append(key)
                    if ca.get("batch_id") and self.record_bodies:
                        self.by_batch[ca["batch_id"]][addr] = msg_id
                        self.sent_time.setdefault(ca["batch_id"], max(float(send_at or 0), self.clock()))
        return 202, {"X-Message-Id": msg_id}, None

    def _scheduled_sends(self, method: str, path: str, body: bytes):
        if method == "GET":
            batch_id = path.rsplit("/", 1)[-1]
            with self.lock:
                status = self.batch_status.get(batch_id)
            return 200, {}, ([{"batch_id": batch_id, "status": status}] if status else [])
        if method != "POST" or path != "/v3/user/scheduled_sends":
            return 404, {}, {"errors": [{"message": "not found"}]}
        try:
            data = json.loads(body)
        except ValueError:
            return 400, {}, {"errors": [{"field": None, "message": "invalid JSON"}]}
        batch_id, status = data.get("batch_id"), data.get("status")
        with self.lock:
            if batch_id not in self.batch_ids or status not in ("cancel", "pause"):
                return 400, {}, {"errors": [{"field": "batch_id", "message": "invalid batch id or status"}]}
            if batch_id in self.batch_status:
                return 400, {}, {"errors": [{"field": None, "message": "batch already has a status"}]}
            at = self.send_at.get(batch_id)
            if at is not None and self.clock() > at - self.cancel_deadline:
                self.stats["cancel_too_late"] += 1
                return (
                    400,
                    {},
                    {"errors": [{"field": "send_at", "message": "too close to send_at to cancel or pause"}]},
                )
            self.batch_status[batch_id] = status
            self.stats["cancelled_batches"] += 1
            for key in self.batch_keys.pop(batch_id, []):  # never delivered
                if self.record_bodies:
                    self.received[key] -= 1
                    if self.received[key] <= 0:
                        del self.received[key]
                self.stats["discarded"] += 1
            self.by_batch.pop(batch_id, None)
        return 201, {}, {"batch_id": batch_id, "status": status}

    def snapshot(self):
        snap = super().snapshot()
        with self.lock:
            snap["recipients"], snap["deliveries"], snap["duplicates"] = self.delivery_counts()
            snap["max_personalizations"] = max(self.personalizations_per_request, default=0)
        return snap


# ---------------------------------------------------------------------------- Twilio
def _twilio_error(status: int, code: int, message: str) -> tuple[int, dict, dict]:
    return (
        status,
        {},
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


class FakeTwilio(FakeServer):
    """Messages create (201; 400 with 21211/21610/21614; 429 with 20429) and list by To."""

    name = "twilio"

    def __init__(
        self, account_sid: str = "AC" + "1" * 32, auth_token: str = "token", *, stopped=(), landlines=(), **kw
    ):
        super().__init__(**kw)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.stopped = set(stopped)
        self.landlines = set(landlines)
        self.by_to: dict[str, list[dict]] = defaultdict(list)
        self.forms: list[dict] = []

    def rate_limited(self, retry_after):
        return (
            429,
            {"Retry-After": f"{retry_after:g}"},
            {
                "code": 20429,
                "message": "Too Many Requests",
                "more_info": "https://www.twilio.com/docs/errors/20429",
                "status": 429,
            },
        )

    def handle(self, method, path, query, headers, body):
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if headers.get("Authorization") != expected:
            return _twilio_error(401, 20003, "Authenticate")
        m = re.match(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$", path)
        if not m or m.group(1) != self.account_sid:
            return _twilio_error(404, 20404, "The requested resource was not found")
        if method == "GET":
            to = query.get("To")
            with self.lock:
                msgs = sorted(self.by_to.get(to, []), key=lambda r: r["_ts"], reverse=True)[
                    : int(query.get("PageSize", 50))
                ]
            clean = [{k: v for k, v in r.items() if k != "_ts"} for r in msgs]
            return (
                200,
                {},
                {
                    "end": max(0, len(clean) - 1),
                    "first_page_uri": path,
                    "messages": clean,
                    "next_page_uri": None,
                    "page": 0,
                    "page_size": 50,
                    "previous_page_uri": None,
                    "start": 0,
                    "uri": path,
                },
            )
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        to = form.get("To", "")
        if not form.get("MessagingServiceSid") and not form.get("From"):
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        if not E164_RE.match(to):
            return _twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if to in self.stopped:
            return _twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        if to in self.landlines:
            return _twilio_error(400, 21614, f"'To' number {to} is not a valid mobile number")
        now = datetime.now(UTC)
        sid = "SM" + uuid.uuid4().hex
        msg = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": format_datetime(now, usegmt=True),
            "date_sent": None,
            "date_updated": format_datetime(now, usegmt=True),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": None,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "scheduled" if form.get("SendAt") else "accepted",
            "to": to,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
        }
        with self.lock:
            self.stats["created"] += 1
            self._count((to, form.get("Body", "")))
            if self.record_bodies:
                self.forms.append(form)
                self.by_to[to].append({**msg, "_ts": time.time()})
            self.stats[
                "segments_ucs2" if any(ord(c) > 127 for c in form.get("Body", "")) else "segments_gsm"
            ] += 1
        return 201, {}, msg

    def snapshot(self):
        snap = super().snapshot()
        with self.lock:
            snap["recipients"], snap["deliveries"], snap["duplicates"] = self.delivery_counts()
            times = self.request_times
            snap["first_request"] = times[0] if times else None
            snap["last_request"] = times[-1] if times else None
        return snap


# ---------------------------------------------------------------------------- Meta
class FakeMeta(FakeServer):
    """Graph API POST / DELETE /{version}/{audience_id}/users with sessions."""

    name = "meta"

    def __init__(self, access_token: str = "meta-token", **kw):
        super().__init__(**kw)
        self.access_token = access_token
        self.members: dict[str, set[tuple]] = defaultdict(set)
        self.calls: list[dict] = []

    def rate_limited(self, retry_after):
        return (
            400,
            {"Retry-After": f"{retry_after:g}"},
            {
                "error": {
                    "message": "(#80003) There have been too many calls to this ad-account.",
                    "type": "OAuthException",
                    "code": 80003,
                    "is_transient": True,
                }
            },
        )

    def handle(self, method, path, query, headers, body):
        if body and headers.get("Content-Type", "").startswith("application/json"):
            try:
                form = json.loads(body)
            except ValueError:
                return (
                    400,
                    {},
                    {"error": {"message": "(#100) Invalid JSON", "type": "OAuthException", "code": 100}},
                )
        else:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)) if body else dict(query)
            for key in ("payload", "session"):
                try:
                    form[key] = json.loads(form[key]) if key in form else None
                except ValueError:
                    return 400, {}, {"error": {"message": f"(#100) Invalid parameter {key}", "code": 100}}
        if form.get("access_token") != self.access_token:
            return (
                400,
                {},
                {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}},
            )
        m = re.match(r"^/(v[\d.]+)/([^/]+)/users$", path)
        if not m or method not in ("POST", "DELETE"):
            return (
                400,
                {},
                {"error": {"message": "Unsupported request", "type": "GraphMethodException", "code": 100}},
            )
        payload, session = form.get("payload"), form.get("session") or {}
        if not isinstance(payload, dict):
            return (
                400,
                {},
                {
                    "error": {
                        "message": "(#100) Invalid parameter payload",
                        "type": "OAuthException",
                        "code": 100,
                    }
                },
            )
        rows = payload.get("data") or []
        if len(rows) > 10_000:
            return (
                400,
                {},
                {
                    "error": {
                        "message": "(#100) Too many entries: maximum 10000 per request",
                        "code": 100,
                        "type": "OAuthException",
                    }
                },
            )
        for r in rows:
            if len(r) != len(payload.get("schema") or []):
                return 400, {}, {"error": {"message": "(#100) Row length does not match schema", "code": 100}}
        audience = m.group(2)
        with self.lock:
            self.calls.append(
                {
                    "method": method,
                    "audience": audience,
                    "rows": len(rows),
                    "session": session,
                    "schema": payload.get("schema"),
                }
            )
            for r in rows:
                if method == "POST":
                    self.members[audience].add(tuple(r))
                else:
                    self.members[audience].discard(tuple(r))
        return (
            200,
            {},
            {
                "audience_id": audience,
                "session_id": session.get("session_id"),
                "num_received": len(rows),
                "num_invalid_entries": 0,
                "invalid_entry_samples": {},
            },
        )
