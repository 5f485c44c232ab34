"""Serve the webhook receiver with uvicorn (``crmloop webhooks``)."""

from __future__ import annotations

import logging

from crmloop.settings import WebhookConfig
from sources.webhooks.app import create_app

log = logging.getLogger("crmloop.webhooks")


def serve(config: WebhookConfig, host: str = "127.0.0.1", port: int = 8787, log_level: str = "info") -> None:
    """Run until interrupted; on shutdown every accepted event is sealed into ``*.jsonl``."""
    import uvicorn

    if not config.sendgrid_public_key and not config.twilio_auth_token:
        raise SystemExit(
            "neither SENDGRID_WEBHOOK_PUBLIC_KEY nor TWILIO_AUTH_TOKEN is set: the receiver could verify nothing"
        )
    app = create_app(config)
    log.info("webhook receiver on http://%s:%s, %r", host, port, config)
    uvicorn.run(
        app, host=host, port=port, log_level=log_level, access_log=False, timeout_graceful_shutdown=10
    )
