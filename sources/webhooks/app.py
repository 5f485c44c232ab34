"""The webhook receiver: a Starlette ASGI app (served by uvicorn, see ``server.py``).

Routes
- ``POST /sendgrid/events``  SendGrid signed Event Webhook (JSON array of events)
- ``POST /twilio/status``    Twilio message status callbacks (form-encoded)
- ``POST /twilio/inbound``   Twilio inbound messages (form-encoded); STOP/START → consents
- ``GET  /healthz``          200 while the landing writer is alive

Order of checks for every POST: size limit (413) → signature present (401) → signature valid
(403) → timestamp fresh (SendGrid, 403) → not a replay (409; what a request is and how the
memory survives restarts: ``replays.py``) → payload well-formed (400) → durable append → 2xx.
Nothing is written before every check passed. An endpoint whose secret
is not configured answers 503 (Twilio/SendGrid retry later) and stores nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crmloop.settings import WebhookConfig
from sources.webhooks.events import PayloadError, parse_sendgrid_batch, parse_twilio_callback
from sources.webhooks.landing import LandingWriter
from sources.webhooks.replays import (
    ReplayCache,
    load_replay_keys,
    prune_replay_journal,
    replay_record,
    sendgrid_replay_key,
    twilio_replay_key,
)
from sources.webhooks.signatures import (
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
    TWILIO_SIGNATURE_SETTINGS_HEADER,
    load_sendgrid_public_key,
    verify_sendgrid_signature,
    verify_twilio_signature,
)

log = logging.getLogger("crmloop.webhooks")

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    config: WebhookConfig,
    writer: LandingWriter | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The ASGI app. If ``writer`` is None the app starts and stops its own LandingWriter."""
    sg_key = load_sendgrid_public_key(config.sendgrid_public_key) if config.sendgrid_public_key else None
    window = max(config.replay_window_seconds, 2 * config.tolerance_seconds)
    replays = ReplayCache(window, clock)
    started = clock()
    prune_replay_journal(config.landing_dir, started - window)
    replays.load(load_replay_keys(config.landing_dir, started - window))
    pruned_on = [datetime.fromtimestamp(started, UTC).date()]  # the journal is pruned once a UTC day
    own_writer = writer is None
    landing = writer or LandingWriter(
        config.landing_dir, seal_seconds=config.seal_seconds, fsync=config.fsync
    )

    def now() -> datetime:
        return datetime.fromtimestamp(clock(), UTC)

    async def _store(records, replay_key: bytes) -> Response | None:
        claimed = replays.claim(replay_key)
        if claimed is None:
            return _error(409, "replayed request")
        try:  # the key is durable exactly when the rows are: one group commit
            await landing.append_async([replay_record(replay_key, claimed), *records])
        except Exception as exc:  # disk full, writer down: provider retries on 5xx
            replays.release(replay_key)
            log.error("landing write failed: %s", exc)
            return _error(503, "could not store events, retry later")
        today = datetime.fromtimestamp(claimed, UTC).date()
        if today != pruned_on[0]:
            pruned_on[0] = today
            prune_replay_journal(config.landing_dir, claimed - window)
        return None

    async def sendgrid_events(request: Request) -> Response:
        if sg_key is None:
            return _error(503, "SendGrid webhook verification key is not configured")
        body = await _read_body(request, config.max_body_bytes)
        if body is None:
            return _error(413, "body too large")
        signature = request.headers.get(SENDGRID_SIGNATURE_HEADER)
        timestamp = request.headers.get(SENDGRID_TIMESTAMP_HEADER)
        if not signature or not timestamp:
            return _error(401, "missing signature headers")
        if not verify_sendgrid_signature(sg_key, body, signature, timestamp):
            return _error(403, "invalid signature")
        try:
            ts = float(timestamp)
        except ValueError:
            return _error(403, "invalid timestamp")
        if abs(clock() - ts) > config.tolerance_seconds:
            return _error(403, "stale timestamp")
        key = sendgrid_replay_key(timestamp, body)
        if replays.seen(key):
            return _error(409, "replayed request")
        try:
            records = parse_sendgrid_batch(body, now())
        except PayloadError as exc:
            return _error(400, str(exc))
        failed = await _store(records, key)
        if failed is not None:
            return failed
        return JSONResponse({"stored": sum(r.source == "email_events" for r in records)})

    def twilio_handler(inbound: bool):
        async def handler(request: Request) -> Response:
            if not config.twilio_auth_token:
                return _error(503, "TWILIO_AUTH_TOKEN is not configured")
            body = await _read_body(request, config.max_body_bytes)
            if body is None:
                return _error(413, "body too large")
            signature = request.headers.get(TWILIO_SIGNATURE_HEADER)
            if not signature:
                return _error(401, "missing X-Twilio-Signature")
            try:
                form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
            except (UnicodeDecodeError, ValueError):
                form = None
            url = str(request.url)
            if config.public_base_url:
                url = config.public_base_url.rstrip("/") + request.url.path
                if request.url.query:
                    url += "?" + request.url.query
            settings = request.headers.get(TWILIO_SIGNATURE_SETTINGS_HEADER)
            if form is None or not verify_twilio_signature(
                config.twilio_auth_token, url, form, signature, settings
            ):
                return _error(403, "invalid signature")
            key = twilio_replay_key(url, form)
            if replays.seen(key):
                return _error(409, "replayed request")
            try:
                records = parse_twilio_callback(form, dict(request.query_params), now(), inbound)
            except PayloadError as exc:
                return _error(400, str(exc))
            failed = await _store(records, key)
            if failed is not None:
                return failed
            if inbound:
                return Response(EMPTY_TWIML, media_type="text/xml")
            return Response(status_code=204)

        return handler

    async def healthz(request: Request) -> Response:
        ok = landing.healthy
        return JSONResponse(
            {
                "status": "ok" if ok else "writer down",
                "pending_writes": landing.pending(),
                "rows_stored": landing.stats.rows,
                "sendgrid": sg_key is not None,
                "twilio": bool(config.twilio_auth_token),
            },
            status_code=200 if ok else 503,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        if own_writer:
            landing.start()
        try:
            yield
        finally:
            if own_writer:
                landing.close()

    app = Starlette(
        routes=[
            Route("/sendgrid/events", sendgrid_events, methods=["POST"]),
            Route("/twilio/status", twilio_handler(False), methods=["POST"]),
            Route("/twilio/inbound", twilio_handler(True), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.writer = landing
    app.state.config = config
    return app
