"""The sandbox sink: an in-process HTTP server on 127.0.0.1 that the real SDKs are pointed at.

Every request the SDK would have sent to SendGrid, Twilio or Meta is appended, exactly as
received (JSON parsed from the raw bytes, form bodies verbatim, plus the SHA-256 of the raw
bytes), to `<home>/outbox/<channel>/<send_date>/<provider>.jsonl`, and answered the way the
provider answers success (SendGrid 202 + X-Message-Id, Twilio 201 + Message JSON, Meta 200).
SendGrid batch ids (`POST /v3/mail/batch`) and cancellations (`POST /v3/user/scheduled_sends`,
kept in `<home>/outbox/email/<send_date>/sendgrid_scheduled_sends.jsonl`) are answered too; a
request of a cancelled batch stays in `sendgrid.jsonl` (it was received) but is never delivered.
Nothing leaves the machine. It also answers the look-ups reconciliation uses (Twilio message
list by `To`, SendGrid Email Activity by batch id) from the outbox, so a crashed sandbox run
reconciles exactly like a live one.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlsplit

_TWILIO_MSGS = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
_META_USERS = re.compile(r"^/(v[\d.]+)/([^/]+)/users$")
_ACTIVITY_BATCH = re.compile(r"unique_args\['batch_id'\]\s*=\s*\"([^\"]+)\"")


class SandboxSink:
    """Start with `with SandboxSink(outbox_dir, send_date) as sink:` then use `sink.url`."""

    def __init__(self, outbox_dir: Path, send_date: date):
        self.outbox_dir = Path(outbox_dir)
        self.send_date = send_date
        self._lock = threading.Lock()
        self._files: dict[tuple[str, str], object] = {}
        self._sms_index: dict[str, list[dict]] | None = None
        self._email_index: dict[str, dict[str, str]] | None = None
        self._cancelled: set[str] = set()  # SendGrid batches cancelled through scheduled_sends
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ files
    def path(self, channel: str, provider: str) -> Path:
        return self.outbox_dir / channel / self.send_date.isoformat() / f"{provider}.jsonl"

    def _append(self, channel: str, provider: str, record: dict) -> None:
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            fh = self._files.get((channel, provider))
            if fh is None:
                p = self.path(channel, provider)
                p.parent.mkdir(parents=True, exist_ok=True)
                fh = open(p, "ab", buffering=0)  # noqa: SIM115 - closed in stop()
                self._files[(channel, provider)] = fh
            fh.write(line)  # unbuffered: on disk before the response goes back
            self.requests += 1

    def _read(self, channel: str, provider: str):
        """Every record of this channel, all send dates (a crash on one day may be reconciled
        by a run for another)."""
        for p in sorted((self.outbox_dir / channel).glob(f"*/{provider}.jsonl")):
            with open(p, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        yield json.loads(line)

    # ------------------------------------------------------------------ lookups
    def _sms_lookup(self, to: str) -> list[dict]:
        with self._lock:
            if self._sms_index is None:
                self._sms_index = {}
                for rec in self._read("sms", "twilio"):
                    self._index_sms(rec["response"])
            return list(self._sms_index.get(to, []))

    def _index_sms(self, msg: dict) -> None:
        if self._sms_index is not None:
            self._sms_index.setdefault(msg["to"], []).append(msg)

    def _email_lookup(self, batch_id: str) -> dict[str, str]:
        with self._lock:
            if self._email_index is None:
                self._email_index = {}
                for rec in self._read("email", "sendgrid_scheduled_sends"):
                    self._cancelled.add(rec["body"]["batch_id"])
                for rec in self._read("email", "sendgrid"):
                    self._index_email(rec["body"], rec["message_id"])
            return dict(self._email_index.get(batch_id, {}))

    def _index_email(self, body: dict, message_id: str) -> None:
        if self._email_index is None:
            return
        for p in body.get("personalizations", []):
            b = (p.get("custom_args") or {}).get("batch_id")
            if b and b not in self._cancelled:
                for to in p.get("to", []):
                    self._email_index.setdefault(b, {})[to["email"].lower()] = message_id

    # ------------------------------------------------------------------ server
    def start(self) -> SandboxSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep stderr quiet; never echo headers (auth)
                return

            def _reply(self, status: int, payload, headers: dict | None = None):
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def do_POST(self):
                sink._handle(self, "POST")

            def do_DELETE(self):
                sink._handle(self, "DELETE")

            def do_GET(self):
                sink._handle(self, "GET")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-sink", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "sink not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for fh in self._files.values():
                fh.close()
            self._files.clear()

    def __enter__(self) -> SandboxSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ routes
    def _handle(self, h, method: str) -> None:
        parts = urlsplit(h.path)
        path, query = parts.path, parts.query
        raw = h._body()
        now = datetime.now(UTC)
        base = {
            "received_at": now.isoformat(),
            "method": method,
            "path": path,
            "query": query,
            "sha256": hashlib.sha256(raw).hexdigest(),
        }
        if method == "POST" and path == "/v3/mail/send":
            body = json.loads(raw)
            msg_id = uuid.uuid4().hex[:22]
            self._append("email", "sendgrid", {**base, "message_id": msg_id, "body": body})
            with self._lock:
                self._index_email(body, msg_id)
            return h._reply(202, None, {"X-Message-Id": msg_id})
        if method == "POST" and path == "/v3/mail/batch":
            return h._reply(201, {"batch_id": uuid.uuid4().hex})
        if method == "POST" and path == "/v3/user/scheduled_sends":
            req = json.loads(raw or b"{}")
            batch_id, status = req.get("batch_id"), req.get("status")
            if not batch_id or status not in ("cancel", "pause"):
                return h._reply(
                    400, {"errors": [{"field": "batch_id", "message": "batch_id and status needed"}]}
                )
            self._append("email", "sendgrid_scheduled_sends", {**base, "body": req})
            with self._lock:
                if self._email_index is not None:
                    self._email_index.pop(batch_id, None)  # a cancelled batch is never delivered
                self._cancelled.add(batch_id)
            return h._reply(201, {"batch_id": batch_id, "status": status})
        if method == "GET" and path.startswith("/v3/user/scheduled_sends/"):
            batch_id = path.rsplit("/", 1)[-1]
            self._email_lookup(batch_id)  # loads the outbox's cancellations
            with self._lock:
                known = batch_id in self._cancelled
            return h._reply(200, [{"batch_id": batch_id, "status": "cancel"}] if known else [])
        if method == "GET" and path == "/v3/messages":
            q = parse_qs(query).get("query", [""])[0]
            m = _ACTIVITY_BATCH.search(q)
            found = self._email_lookup(m.group(1)) if m else {}
            msgs = [{"msg_id": mid, "to_email": to, "status": "delivered"} for to, mid in found.items()]
            return h._reply(200, {"messages": msgs})
        m = _TWILIO_MSGS.match(path)
        if m and method == "POST":
            form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            sid = "SM" + uuid.uuid4().hex
            resp = twilio_message_json(m.group(1), sid, form, now)
            self._append(
                "sms", "twilio", {**base, "form_raw": raw.decode("utf-8"), "form": form, "response": resp}
            )
            with self._lock:
                self._index_sms(resp)
            return h._reply(201, resp)
        if m and method == "GET":
            q = dict(parse_qsl(query))
            msgs = sorted(self._sms_lookup(q.get("To", "")), key=lambda r: r["date_created"], reverse=True)
            return h._reply(200, twilio_page(path, msgs))
        m = _META_USERS.match(path)
        if m and method in ("POST", "DELETE"):
            body = _graph_params(raw, query, h.headers.get("Content-Type", ""))
            payload, session = body.get("payload") or {}, body.get("session") or {}
            body.pop("access_token", None)  # a token never goes into the outbox
            self._append("ads", "meta", {**base, "body": body})
            return h._reply(
                200,
                {
                    "audience_id": m.group(2),
                    "session_id": session.get("session_id"),
                    "num_received": len(payload.get("data", [])),
                    "num_invalid_entries": 0,
                    "invalid_entry_samples": {},
                },
            )
        return h._reply(404, {"errors": [{"message": f"sandbox sink: no route for {method} {path}"}]})


def _graph_params(raw: bytes, query: str, content_type: str) -> dict:
    """Graph API parameters from a JSON body, a form body or the query string (JSON-valued
    form fields decoded)."""
    if raw and content_type.startswith("application/json"):
        return json.loads(raw)
    form = dict(parse_qsl(raw.decode("utf-8") if raw else query, keep_blank_values=True))
    for key in ("payload", "session"):
        if isinstance(form.get(key), str):
            form[key] = json.loads(form[key])
    return form


def twilio_message_json(account_sid: str, sid: str, form: dict, now: datetime) -> dict:
    """A Message resource as Twilio returns it from create/list."""
    status = "scheduled" if form.get("SendAt") else "accepted"
    return {
        "account_sid": account_sid,
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
        "price_unit": None,
        "sid": sid,
        "status": status,
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"},
        "to": form.get("To"),
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }


def twilio_page(path: str, messages: list[dict]) -> dict:
    return {
        "end": max(0, len(messages) - 1),
        "first_page_uri": f"{path}?PageSize=50&Page=0",
        "messages": messages[:50],
        "next_page_uri": None,
        "page": 0,
        "page_size": 50,
        "previous_page_uri": None,
        "start": 0,
        "uri": f"{path}?PageSize=50&Page=0",
    }
