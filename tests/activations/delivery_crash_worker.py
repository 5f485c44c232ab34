"""A delivery run in its own process, for the SIGKILL test: `python -m tests.activations.delivery_crash_worker
<home> <sendgrid_url> <twilio_url> <n_email> <n_sms> <lookup 0|1> <send_at lead seconds>`. Exits 0 when
both channels finished."""

from __future__ import annotations

import sys
from pathlib import Path

from activations.delivery.api import send_messages
from tests.activations.delivery_helpers import SEND_DATE, email_messages, sms_messages


class _Url:
    def __init__(self, url: str):
        self.url = url


def main(argv: list[str]) -> int:
    from tests.activations.delivery_helpers import live_config

    home, sg_url, tw_url, n_email, n_sms, lookup, lead = argv
    cfg = live_config(
        Path(home),
        sendgrid=_Url(sg_url),
        twilio=_Url(tw_url),
        CRM_SENDGRID_BATCH=25,
        CRM_SENDGRID_RATE=20,
        CRM_SENDGRID_CONCURRENCY=2,
        CRM_SMS_LEDGER_BATCH=20,
        CRM_TWILIO_RATE=100,
        CRM_TWILIO_CONCURRENCY=4,
        CRM_SENDGRID_ACTIVITY_LOOKUP=lookup,
        CRM_SENDGRID_SEND_AT_LEAD_SECONDS=lead,
        CRM_RETRY_MAX_ATTEMPTS=12,
    )
    send_messages("email", email_messages(int(n_email)), cfg=cfg, send_date=SEND_DATE)
    send_messages("sms", sms_messages(int(n_sms)), cfg=cfg, send_date=SEND_DATE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
