"""Shared helpers for the delivery / channel tests: messages and a live-mode config aimed at fakes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from activations.audiences.messages import Message
from activations.delivery.engine import deliver
from activations.delivery.ledger import SendLedger
from crmloop.settings import DeliveryConfig

SEND_DATE = date(2025, 3, 14)
SG_KEY = "SG.test-key"
TW_SID = "AC" + "1" * 32
TW_TOKEN = "tw-token"
MG_SID = "MG" + "2" * 32
META_TOKEN = "meta-token"


ASM_GROUP = 1001  # the unsubscribe group the test campaigns carry (plan email_unsubscribe_group)


def email_messages(
    n: int,
    campaign: str = "welcome",
    start: int = 0,
    send_date: date = SEND_DATE,
    unsubscribe_group: int | None = ASM_GROUP,
) -> list[Message]:
    return [
        Message(
            campaign_id=campaign,
            customer_id=f"C{i:07d}",
            channel="email",
            send_date=send_date,
            to=f"person{i}@example.com",
            subject=f"ยินดีต้อนรับ คุณ{i}",
            text=f"สวัสดีค่ะ คุณลูกค้า {i}",
            html=f"<p>สวัสดีค่ะ คุณลูกค้า {i}</p>",
            sender="news@shop.example",
            sender_name="ร้านค้า",
            unsubscribe_group=unsubscribe_group,
            fields={"first_name": f"ชื่อ{i}", "last_name": "ทดสอบ", "email": f"person{i}@example.com"},
        )
        for i in range(start, start + n)
    ]


def sms_messages(
    n: int, campaign: str = "welcome", start: int = 0, send_date: date = SEND_DATE
) -> list[Message]:
    return [
        Message(
            campaign_id=campaign,
            customer_id=f"C{i:07d}",
            channel="sms",
            send_date=send_date,
            to=f"+6681{i:07d}",
            sms_body=f"รับของขวัญฟรีเมื่อซื้อครั้งแรก รหัส {i}",
        )
        for i in range(start, start + n)
    ]


def deliver_live(messages: list[Message], client, cfg: DeliveryConfig):
    """deliver() in live mode through `client` and cfg's send ledger; closes both."""
    ledger = SendLedger(cfg.warehouse_path)
    try:
        return deliver(messages, client, ledger, mode="live")
    finally:
        client.close()
        ledger.close()


def live_config(home: Path, *, sendgrid=None, twilio=None, meta=None, **env_over) -> DeliveryConfig:
    env = {
        "CRM_ACTIVATION_MODE": "live",
        "SENDGRID_API_KEY": SG_KEY,
        "TWILIO_ACCOUNT_SID": TW_SID,
        "TWILIO_AUTH_TOKEN": TW_TOKEN,
        "TWILIO_MESSAGING_SERVICE_SID": MG_SID,
        "META_ACCESS_TOKEN": META_TOKEN,
        "META_CUSTOM_AUDIENCE_ID": "6000000000001",
        "CRM_SENDGRID_RATE": "500",
        "CRM_TWILIO_RATE": "500",
        "CRM_META_RATE": "500",
        "CRM_RETRY_BASE_SECONDS": "0.01",
        "CRM_RETRY_MAX_SECONDS": "0.05",
        "CRM_HTTP_TIMEOUT": "5",
        "CRM_WEBHOOK_BASE_URL": "http://127.0.0.1:8787",
    }
    if sendgrid is not None:
        env["CRM_SENDGRID_BASE_URL"] = sendgrid.url
    if twilio is not None:
        env["CRM_TWILIO_BASE_URL"] = twilio.url
    if meta is not None:
        env["CRM_META_BASE_URL"] = meta.url
    env.update({k: str(v) for k, v in env_over.items()})
    return DeliveryConfig.from_env(home=home, env=env)
