"""Delivery configuration: mode, provider base URLs, rates, retries, credentials.

Read at run time from environment variables (never at import). Secrets come only from the
environment and are kept out of `repr()` and logs.

| variable | default | meaning |
|---|---|---|
| CRM_ACTIVATION_MODE | sandbox | `sandbox`: SDKs talk to an in-process sink that writes the outbox; `live`: real providers |
| CRM_SENDGRID_BASE_URL | https://api.sendgrid.com | SendGrid API host (tests: a local fake) |
| CRM_TWILIO_BASE_URL | https://api.twilio.com | Twilio REST host |
| CRM_META_BASE_URL | https://graph.facebook.com | Graph API host |
| CRM_META_API_VERSION | v21.0 | Graph API version |
| CRM_SENDGRID_RATE / CRM_TWILIO_RATE / CRM_META_RATE | 50 / 20 / 5 | requests per second per provider (token bucket) |
| CRM_SENDGRID_CONCURRENCY / CRM_TWILIO_CONCURRENCY | 4 / 8 | concurrent connections |
| CRM_SENDGRID_BATCH | 1000 | personalizations per request (SendGrid's maximum is 1000) |
| CRM_SMS_LEDGER_BATCH | 200 | SMS per ledger batch (intent recorded per batch) |
| CRM_SENDGRID_FROM_EMAIL / CRM_SENDGRID_FROM_NAME | news@example.com / crmloop | default sender when a message has none |
| CRM_SENDGRID_ASM_GROUP_ID | 0 (none) | fallback unsubscribe group (`asm.group_id`) for campaigns whose plan sets no `email_unsubscribe_group`; live marketing email with neither is refused |
| CRM_SENDGRID_TEMPLATE_ID | (none) | dynamic template id; inline content when empty |
| CRM_SENDGRID_ACTIVITY_LOOKUP | 0 | 1: reconcile ambiguous email batches through the Email Activity API (a paid add-on) |
| CRM_SENDGRID_SEND_AT_LEAD_SECONDS | 1200 | each email batch gets a SendGrid `batch_id` and `send_at` this far ahead, so an unconfirmed batch can be cancelled and sent again; 0: send at once (an unconfirmed batch then needs the look-up or an operator) |
| CRM_SENDGRID_CANCEL_DEADLINE_SECONDS | 600 | SendGrid's rule: a batch cannot be cancelled later than this before its `send_at` (change only for a test double); the lead must exceed it |
| CRM_WEBHOOK_BASE_URL | http://127.0.0.1:8787 | the webhook receiver; Twilio StatusCallback = <base>/twilio/status |
| CRM_RETRY_MAX_ATTEMPTS / CRM_RETRY_BASE_SECONDS / CRM_RETRY_MAX_SECONDS | 6 / 0.5 / 30 | retries |
| CRM_HTTP_TIMEOUT | 30 | seconds per request |
| CRM_LOOKUP_SETTLE_SECONDS | 600 | the Email Activity feed lags real sends (minutes at SendGrid): "not found" means "not sent" only once this long has passed since the batch's send time (`send_at`, else its request); nothing waits for it, an unsettled batch is decided by a later run. Twilio's message list is read at once |
| secrets (live only) | | SENDGRID_API_KEY, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_MESSAGING_SERVICE_SID, META_ACCESS_TOKEN, META_AD_ACCOUNT_ID, META_CUSTOM_AUDIENCE_ID |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

SANDBOX_RATE = 1000.0  # requests per second to the in-process sandbox sink


class DeliveryConfigError(ValueError):
    """Delivery is misconfigured (missing credential, bad number): names the variable."""


def _f(env: dict, name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise DeliveryConfigError(f"{name}={raw!r} is not a number") from exc


def _i(env: dict, name: str, default: int) -> int:
    return int(_f(env, name, default))


def _s(env: dict, name: str, default: str) -> str:
    raw = env.get(name)
    return raw if raw not in (None, "") else default


@dataclass(frozen=True)
class Secrets:
    """Credentials from the environment. `repr` never shows values."""

    values: dict[str, str] = field(default_factory=dict, repr=False)

    def get(self, name: str) -> str:
        value = self.values.get(name)
        if not value:
            raise DeliveryConfigError(f"live mode needs the environment variable {name}")
        return value

    def __repr__(self) -> str:  # pragma: no cover - trivial
        return f"Secrets({sorted(k for k, v in self.values.items() if v)} set)"


SECRET_NAMES = (
    "SENDGRID_API_KEY",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_MESSAGING_SERVICE_SID",
    "META_ACCESS_TOKEN",
    "META_AD_ACCOUNT_ID",
    "META_CUSTOM_AUDIENCE_ID",
)

SANDBOX_SECRETS = {
    "SENDGRID_API_KEY": "SG.sandbox",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "sandbox",
    "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
    "META_ACCESS_TOKEN": "sandbox",
    "META_AD_ACCOUNT_ID": "act_0",
    "META_CUSTOM_AUDIENCE_ID": "0",
}


@dataclass(frozen=True)
class RetryConfig:
    max_attempts: int = 6
    base_seconds: float = 0.5
    max_seconds: float = 30.0
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class DeliveryConfig:
    mode: str = "sandbox"
    home: Path = Path(".crm")
    sendgrid_base_url: str = "https://api.sendgrid.com"
    twilio_base_url: str = "https://api.twilio.com"
    meta_base_url: str = "https://graph.facebook.com"
    meta_api_version: str = "v21.0"
    sendgrid_rate: float = 50.0
    twilio_rate: float = 20.0
    meta_rate: float = 5.0
    sendgrid_concurrency: int = 4
    twilio_concurrency: int = 8
    sendgrid_batch: int = 1000
    sms_ledger_batch: int = 200
    from_email: str = "news@example.com"
    from_name: str = "crmloop"
    asm_group_id: int = 0
    template_id: str = ""
    sendgrid_activity_lookup: bool = False
    sendgrid_send_at_lead_seconds: float = 1200.0
    sendgrid_cancel_deadline_seconds: float = 600.0
    webhook_base_url: str = "http://127.0.0.1:8787"
    lookup_settle_seconds: float = 600.0
    retry: RetryConfig = field(default_factory=RetryConfig)
    secrets: Secrets = field(default_factory=Secrets)

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def status_callback_url(self) -> str:
        return self.webhook_base_url.rstrip("/") + "/twilio/status"

    def secret(self, name: str) -> str:
        if self.mode == "sandbox":
            return SANDBOX_SECRETS[name]
        return self.secrets.get(name)

    def with_overrides(self, **kwargs) -> DeliveryConfig:
        return replace(self, **kwargs)

    @classmethod
    def from_env(cls, home: Path | None = None, env: dict | None = None) -> DeliveryConfig:
        env = dict(os.environ if env is None else env)
        mode = _s(env, "CRM_ACTIVATION_MODE", "sandbox").lower()
        if mode not in ("sandbox", "live"):
            raise DeliveryConfigError(f"CRM_ACTIVATION_MODE must be 'sandbox' or 'live', not {mode!r}")
        batch = _i(env, "CRM_SENDGRID_BATCH", 1000)
        if not 1 <= batch <= 1000:
            raise DeliveryConfigError(f"CRM_SENDGRID_BATCH={batch}: SendGrid allows 1..1000 personalizations")
        lead = _f(env, "CRM_SENDGRID_SEND_AT_LEAD_SECONDS", cls.sendgrid_send_at_lead_seconds)
        deadline = _f(env, "CRM_SENDGRID_CANCEL_DEADLINE_SECONDS", cls.sendgrid_cancel_deadline_seconds)
        if lead and not deadline < lead <= 72 * 3600:
            raise DeliveryConfigError(
                f"CRM_SENDGRID_SEND_AT_LEAD_SECONDS={lead:g}: must be 0 (no scheduling) or more than "
                f"CRM_SENDGRID_CANCEL_DEADLINE_SECONDS={deadline:g} (SendGrid cancels no later than that "
                "before send_at) and at most 72 hours"
            )
        return cls(
            mode=mode,
            home=Path(home)
            if home is not None
            else Path(_s(env, "CRM_HOME", "./.crm")).expanduser().resolve(),
            sendgrid_base_url=_s(env, "CRM_SENDGRID_BASE_URL", cls.sendgrid_base_url),
            twilio_base_url=_s(env, "CRM_TWILIO_BASE_URL", cls.twilio_base_url),
            meta_base_url=_s(env, "CRM_META_BASE_URL", cls.meta_base_url),
            meta_api_version=_s(env, "CRM_META_API_VERSION", cls.meta_api_version),
            # the provider rates protect real accounts; the sandbox sink on loopback needs no
            # protection, so unless set explicitly it runs at SANDBOX_RATE requests per second
            sendgrid_rate=_f(env, "CRM_SENDGRID_RATE", cls.sendgrid_rate if mode == "live" else SANDBOX_RATE),
            twilio_rate=_f(env, "CRM_TWILIO_RATE", cls.twilio_rate if mode == "live" else SANDBOX_RATE),
            meta_rate=_f(env, "CRM_META_RATE", cls.meta_rate if mode == "live" else SANDBOX_RATE),
            sendgrid_concurrency=_i(env, "CRM_SENDGRID_CONCURRENCY", cls.sendgrid_concurrency),
            twilio_concurrency=_i(env, "CRM_TWILIO_CONCURRENCY", cls.twilio_concurrency),
            sendgrid_batch=batch,
            sms_ledger_batch=_i(env, "CRM_SMS_LEDGER_BATCH", cls.sms_ledger_batch),
            from_email=_s(env, "CRM_SENDGRID_FROM_EMAIL", cls.from_email),
            from_name=_s(env, "CRM_SENDGRID_FROM_NAME", cls.from_name),
            asm_group_id=_i(env, "CRM_SENDGRID_ASM_GROUP_ID", 0),
            template_id=_s(env, "CRM_SENDGRID_TEMPLATE_ID", ""),
            sendgrid_activity_lookup=_s(env, "CRM_SENDGRID_ACTIVITY_LOOKUP", "0") in ("1", "true", "yes"),
            sendgrid_send_at_lead_seconds=lead,
            sendgrid_cancel_deadline_seconds=deadline,
            webhook_base_url=_s(env, "CRM_WEBHOOK_BASE_URL", cls.webhook_base_url),
            lookup_settle_seconds=_f(env, "CRM_LOOKUP_SETTLE_SECONDS", cls.lookup_settle_seconds),
            retry=RetryConfig(
                max_attempts=_i(env, "CRM_RETRY_MAX_ATTEMPTS", 6),
                base_seconds=_f(env, "CRM_RETRY_BASE_SECONDS", 0.5),
                max_seconds=_f(env, "CRM_RETRY_MAX_SECONDS", 30.0),
                timeout_seconds=_f(env, "CRM_HTTP_TIMEOUT", 30.0),
            ),
            secrets=Secrets({k: env.get(k, "") for k in SECRET_NAMES}),
        )
