"""crmloop's one settings module: every environment variable crmloop reads is parsed here, once.

Read at run time (never at import). The CLI sets the same variables from its flags before it
starts Dagster, so the CLI, `dagster dev` and the tests all see one configuration. Every error
is a `SettingsError` naming the variable, what it holds and what is accepted. Secrets come from
the environment only and never appear in a `repr` (nor, therefore, in logs or Dagster metadata).
`sources/` and `activations/` import what they need from here; this module imports nothing of
theirs but the plan's default path (no Dagster, no import cycle: `tests/test_rooms.py`).

Run (`Settings`)
| variable | default | meaning |
|---|---|---|
| CRM_LANDING_DIR | ./data/landing | where extracts arrive: <landing>/<source>/<YYYY-MM-DD>/<files> |
| CRM_HOME | ./.crm | everything a run keeps: lake, quarantine, warehouse, exports, reports, Dagster storage |
| CRM_AS_OF | yesterday in Asia/Bangkok | the business date a run builds |
| CRM_START_DATE | (the first landing date) | first daily partition; landing partitions before it are not ingested |
| CRM_ACTIVATION_MODE | sandbox | sandbox (outbox only) or live |
| CRM_PLAN | activations/plan/plan.yml | the communication plan |
| CRM_SOURCES_DIR | (none) | more source declaration folders, os.pathsep-separated (`declaration_dirs`) |
| CRM_DAGSTER_STORAGE | sqlite | Dagster instance storage: sqlite (files under <home>/dagster) or postgres (deploy/dagster-storage-postgres.yaml; Dagster itself reads DAGSTER_PG_USERNAME, DAGSTER_PG_PASSWORD, DAGSTER_PG_HOST, DAGSTER_PG_DB, DAGSTER_PG_PORT: docs/DEPLOY.md) |

Reports server (`crmloop serve`)
| variable | default | meaning |
|---|---|---|
| CRM_SERVE_PORT | 8788 | port of `crmloop serve` on 127.0.0.1; the Dagster UI's report and data-docs links point there |

Data quality (`QualityThresholds`): `CRM_DQ_<NAME>` for every source, `CRM_DQ_<SOURCE>_<NAME>` for
one (precedence in `sources/quality/thresholds.py`); NAME is a field of `QualityThresholds`.

Delivery (`DeliveryConfig`)
| variable | default | meaning |
|---|---|---|
| CRM_SENDGRID_BASE_URL | https://api.sendgrid.com | SendGrid API host (tests: a local fake) |
| CRM_TWILIO_BASE_URL | https://api.twilio.com | Twilio REST host |
| CRM_META_BASE_URL | https://graph.facebook.com | Graph API host |
| CRM_META_API_VERSION | v21.0 | Graph API version |
| CRM_META_AUDIENCE_IDS | {} | JSON object campaign id -> Meta custom audience id; a campaign not in it uses META_CUSTOM_AUDIENCE_ID |
| CRM_SENDGRID_RATE / CRM_TWILIO_RATE / CRM_META_RATE | 50 / 20 / 5 | requests per second per provider (token bucket); sandbox: SANDBOX_RATE unless set |
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

Webhook receiver (`WebhookConfig`)
| variable | default | meaning |
|---|---|---|
| SENDGRID_WEBHOOK_PUBLIC_KEY | (none) | secret: SendGrid's Event Webhook verification key (base64 DER) |
| TWILIO_AUTH_TOKEN | (none) | secret: Twilio's request signatures |
| CRM_WEBHOOK_PUBLIC_URL | (none) | the URL base Twilio calls (behind a proxy Twilio signs this, not the local URL) |
| CRM_WEBHOOK_TOLERANCE_SECONDS | 300 | SendGrid timestamp age (either direction) accepted |
| CRM_WEBHOOK_SEAL_SECONDS | 60 | seconds before an in-flight landing segment is sealed into a *.jsonl file |
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from activations.plan.spec import DEFAULT_PLAN_PATH

TIMEZONE = "Asia/Bangkok"
REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
# browser assets no PyPI package ships (package.json at the root; `make install` runs `npm ci`)
WEB_ASSETS_DIR = REPO_ROOT / "node_modules"
# The dbt project's two rooms: the campaign results (models/campaigns) and the customer model
# (everything else: identity, profiles, ranks and all upstream, with their tests). Orchestration
# builds them as two assets; tests and bench select the customer model the same way.
# the campaign results: every layer's campaigns/ folder (they read what activation wrote)
DBT_CAMPAIGN_MODELS = " ".join(
    f"path:models/{layer}/campaigns" for layer in ("staging", "intermediate", "marts")
)
DBT_EVERY_NODE = "fqn:*"
DBT_CUSTOMER_MODEL = ("--select", DBT_EVERY_NODE, "--exclude", DBT_CAMPAIGN_MODELS)
DEFAULT_LANDING_DIR = "./data/landing"
DEFAULT_HOME = "./.crm"
ACTIVATION_MODES = ("sandbox", "live")
DAGSTER_STORAGES = ("sqlite", "postgres")
# appended to dagster.yaml when CRM_DAGSTER_STORAGE=postgres (crmloop/runner.py prepare_dagster_home)
POSTGRES_STORAGE_YAML = REPO_ROOT / "deploy" / "dagster-storage-postgres.yaml"
SOURCES_DIR_ENV = "CRM_SOURCES_DIR"
QUALITY_PREFIX = "CRM_DQ_"


def default_as_of(now: datetime | None = None) -> date:
    """Yesterday in Asia/Bangkok."""
    now = now or datetime.now(ZoneInfo(TIMEZONE))
    return (now.astimezone(ZoneInfo(TIMEZONE)) - timedelta(days=1)).date()


class SettingsError(ValueError):
    """A setting that cannot be used: the message names it, says what is wrong and what is accepted."""


class DeliveryConfigError(SettingsError):
    """Delivery is misconfigured (missing credential, bad number, no unsubscribe group): names the variable."""


ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
"""A day written YYYY-MM-DD: a run date, and the name of every dated folder (landing partitions,
reports, snapshots)."""


def iso_day(name: str) -> date | None:
    """The day a folder or file name spells as YYYY-MM-DD, or None for any other name."""
    if not ISO_DAY.match(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:  # 2026-13-01
        return None


def parse_day(raw: str, name: str) -> date:
    """A calendar day written YYYY-MM-DD, or a SettingsError naming `name` and the accepted form.

    (date.fromisoformat alone also takes 20261130 and 2026-W48-1; a run date is one spelling.)"""
    text = raw.strip()
    why = "not a date in the form YYYY-MM-DD"
    if ISO_DAY.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError as exc:  # e.g. 2026-13-01: "month must be in 1..12"
            why = f"not a calendar day ({exc})"
    raise SettingsError(f"{name} {raw!r} is {why}; write a day as YYYY-MM-DD, e.g. 2026-11-30")


def check_run_day(
    as_of: date, start_date: date | None, *, name: str = "--as-of", today: date | None = None
) -> None:
    """A run builds a finished business day: from CRM_START_DATE (when set) to yesterday (Asia/Bangkok).
    Without CRM_START_DATE the data sets the start: the preflight refuses a day before any landing."""
    last = today - timedelta(days=1) if today else default_as_of()
    first = f"{start_date} (CRM_START_DATE)" if start_date is not None else "the first landing date"
    accepted = f"accepted: {first} to {last} (yesterday, {TIMEZONE})"
    if as_of > last:
        raise SettingsError(f"{name} {as_of} is not a finished business day yet; {accepted}")
    if start_date is not None and as_of < start_date:
        raise SettingsError(f"{name} {as_of} is before CRM_START_DATE; {accepted}")


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class Env:
    """Typed reads of one environment mapping (default `os.environ`, read when asked). An unset or
    empty variable gives the default; a value that does not parse is a SettingsError naming it."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        return None if value in (None, "") else value

    def text(self, name: str, default: str) -> str:
        value = self.raw(name)
        return default if value is None else value

    def number(self, name: str, default, kind=float):
        value = self.raw(name)
        if value is None:
            return default
        try:
            return kind(value)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise SettingsError(f"{name}={value!r} is not {what} (default {default})") from None

    def integer(self, name: str, default: int) -> int:
        return self.number(name, default, int)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise SettingsError(f"{name}={value!r} is not a yes/no value; accepted: {', '.join(_TRUE + _FALSE)}")

    def path(self, name: str, default: str) -> Path:
        return Path(self.text(name, default)).expanduser().resolve()

    def choice(self, name: str, default: str, accepted: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in accepted:
            raise SettingsError(f"{name} must be {' or '.join(repr(a) for a in accepted)}, not {value!r}")
        return value

    def string_map(self, name: str) -> dict[str, str]:
        """A JSON object of strings (or numbers, kept as their text), e.g. {"vip_party": "2385"}."""
        value = self.raw(name)
        if value is None:
            return {}
        try:
            data = json.loads(value)
        except json.JSONDecodeError as exc:
            raise SettingsError(
                f'{name} is not JSON ({exc.msg}); write an object like {{"campaign": "id"}}'
            ) from None
        if not isinstance(data, dict) or not all(isinstance(v, (str, int)) for v in data.values()):
            raise SettingsError(f"{name} must be a JSON object of campaign id to id, not {value!r}")
        return {str(k): str(v) for k, v in data.items()}

    def paths(self, name: str) -> list[Path]:
        """An os.pathsep-separated list of folders, each of which must exist."""
        out = [Path(p).expanduser() for p in self.text(name, "").split(os.pathsep) if p.strip()]
        for d in out:
            if not d.is_dir():
                raise SettingsError(f"{name}: {d} is not a folder")
        return out


def activation_mode(environ: Mapping[str, str] | None = None) -> str:
    return Env(environ).choice("CRM_ACTIVATION_MODE", "sandbox", ACTIVATION_MODES)


def dagster_storage(environ: Mapping[str, str] | None = None) -> str:
    """CRM_DAGSTER_STORAGE: where the Dagster instance keeps runs, events and ticks."""
    return Env(environ).choice("CRM_DAGSTER_STORAGE", DAGSTER_STORAGES[0], DAGSTER_STORAGES)


def home_from_env(environ: Mapping[str, str] | None = None) -> Path:
    return Env(environ).path("CRM_HOME", DEFAULT_HOME)


def landing_from_env(environ: Mapping[str, str] | None = None) -> Path:
    return Env(environ).path("CRM_LANDING_DIR", DEFAULT_LANDING_DIR)


DEFAULT_SERVE_PORT = 8788


def serve_port(environ: Mapping[str, str] | None = None) -> int:
    """CRM_SERVE_PORT: where `crmloop serve` listens and where Dagster's report links point."""
    port = Env(environ).integer("CRM_SERVE_PORT", DEFAULT_SERVE_PORT)
    if not 1 <= port <= 65535:
        raise SettingsError(
            f"CRM_SERVE_PORT {port} is not a TCP port; give 1..65535 (default {DEFAULT_SERVE_PORT})"
        )
    return port


def extra_declaration_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The folders of CRM_SOURCES_DIR (sources/declarations.py reads the built-in ones first)."""
    return Env(environ).paths(SOURCES_DIR_ENV)


@dataclass(frozen=True)
class QualityThresholds:
    """Data-quality gate thresholds (documented in README, overridable by env)."""

    volume_band: float = 0.5  # today's rows must be within ±50% of the trailing median
    volume_trailing_days: int = 7
    volume_min_history: int = 3  # fewer trailing partitions than this: volume is not judged
    freshness_days: int = 2  # newest partition not older than this many days before as-of
    max_null_share: float = 0.2  # tolerated share of nulls in nullable contact columns
    max_duplicate_share: float = 0.02  # re-delivered order rows tolerated (both copies count)
    audience_band: float = 0.5  # audience size within ±50% of the previous run's
    max_invalid_share: float = (
        0.05  # tolerated share of badly formatted emails/mobiles, implausible birth dates
    )
    max_orphan_share: float = 0.01  # tolerated share of orders whose customer is in no customers partition
    max_quarantine_share: float = 0.05  # tolerated share of a partition's rows quarantined at ingestion
    future_tolerance_days: int = 1  # timestamps may be at most this many days after the checked date
    min_age_years: int = 10  # birth dates must be at least this many years before as-of

    @classmethod
    def env_overrides(cls, prefix: str, environ: Mapping[str, str] | None = None) -> dict[str, int | float]:
        """The thresholds set as `<prefix><NAME>` (NAME a field, upper case), typed as the field."""
        env = Env(environ)
        out = {}
        for f in fields(cls):
            name = f"{prefix}{f.name.upper()}"
            if env.raw(name) is not None:
                out[f.name] = env.number(name, f.default, type(f.default))
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> QualityThresholds:
        """Defaults with every `CRM_DQ_<NAME>` applied (for all sources)."""
        return cls(**cls.env_overrides(QUALITY_PREFIX, environ))


class HomeLayout:
    """Everything a run keeps lives under the home: the one place its folders are named."""

    home: Path

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def approvals_path(self) -> Path:
        """Who approved which campaign content for live sends (activations/plan/approvals.py)."""
        return self.home / "approvals.jsonl"

    @property
    def snapshots_dir(self) -> Path:
        """Frozen audiences per send date: what the audience gate checked is what the channels send."""
        return self.home / "snapshots"

    @property
    def campaign_state_dir(self) -> Path:
        """The campaign-state step's own output, landing-style (`<source>/<send date>/`), which
        it ingests into the lake like every source. Not the landing zone: that is where other
        systems deliver, and the run's own files there would count as deliveries (preflight,
        the first partition, pending dates, `crmloop status`)."""
        return self.home / "campaign_state"

    @property
    def data_docs_dir(self) -> Path:
        return self.home / "data_docs"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


@dataclass(frozen=True)
class Settings(HomeLayout):
    landing_dir: Path
    home: Path
    as_of: date
    # CRM_START_DATE, None when unset: partitions then start at the first landing date
    # (orchestration/defs/partitions.py first_partition)
    start_date: date | None
    activation_mode: str = "sandbox"
    plan_path: Path = field(default=DEFAULT_PLAN_PATH)
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    dagster_storage: str = DAGSTER_STORAGES[0]

    @property
    def dbt_project_dir(self) -> Path:
        return DBT_PROJECT_DIR

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's manifest and per-run artifacts and logs: under the home, never in the repo."""
        return self.home / "dbt_target"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Env(environ)
        as_of_raw = env.raw("CRM_AS_OF")
        start_raw = env.raw("CRM_START_DATE")
        return cls(
            landing_dir=landing_from_env(environ),
            home=home_from_env(environ),
            as_of=parse_day(as_of_raw, "CRM_AS_OF") if as_of_raw else default_as_of(),
            start_date=parse_day(start_raw, "CRM_START_DATE") if start_raw else None,
            activation_mode=activation_mode(environ),
            plan_path=env.path("CRM_PLAN", str(DEFAULT_PLAN_PATH)),
            quality=QualityThresholds.from_env(environ),
            dagster_storage=dagster_storage(environ),
        )

    def dbt_env(self) -> dict[str, str]:
        """Environment for dbt: absolute paths, since dbt changes directory into the project."""
        return {
            "CRM_WAREHOUSE": str(self.warehouse_path),
            "CRM_LAKE_DIR": str(self.lake_dir),
            "DBT_PROFILES_DIR": str(self.dbt_project_dir),
            "DBT_TARGET_PATH": str(self.dbt_target_dir),
            "DBT_LOG_PATH": str(self.dbt_target_dir),
        }


# ---- delivery ---------------------------------------------------------------------------------

SANDBOX_RATE = 1000.0  # requests per second to the in-process sandbox sink

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
class Secrets:
    """Credentials from the environment. `repr` never shows values."""

    values: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Secrets:
        env = Env(environ)
        return cls({k: env.text(k, "") for k in SECRET_NAMES})

    def present(self) -> list[str]:
        """The names that are set (never their values)."""
        return sorted(k for k, v in self.values.items() if v)

    def get(self, name: str) -> str:
        value = self.values.get(name)
        if not value:
            raise DeliveryConfigError(f"live mode needs the environment variable {name}")
        return value

    def __repr__(self) -> str:  # pragma: no cover - trivial
        return f"Secrets({self.present()} set)"


@dataclass(frozen=True)
class RetryConfig:
    max_attempts: int = 6
    base_seconds: float = 0.5
    max_seconds: float = 30.0
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class DeliveryConfig(HomeLayout):
    """Delivery: mode, provider base URLs, rates, retries, credentials (the table at the top)."""

    mode: str = "sandbox"
    home: Path = Path(".crm")
    sendgrid_base_url: str = "https://api.sendgrid.com"
    twilio_base_url: str = "https://api.twilio.com"
    meta_base_url: str = "https://graph.facebook.com"
    meta_api_version: str = "v21.0"
    meta_audience_ids: Mapping[str, str] = field(default_factory=dict)
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
    def status_callback_url(self) -> str:
        return self.webhook_base_url.rstrip("/") + "/twilio/status"

    def secret(self, name: str) -> str:
        if self.mode == "sandbox":
            return SANDBOX_SECRETS[name]
        return self.secrets.get(name)

    def meta_audience_id(self, campaign_id: str) -> str:
        """The Meta custom audience a campaign syncs to (CRM_META_AUDIENCE_IDS, else META_CUSTOM_AUDIENCE_ID)."""
        return self.meta_audience_ids.get(campaign_id) or self.secret("META_CUSTOM_AUDIENCE_ID")

    def with_overrides(self, **kwargs) -> DeliveryConfig:
        return replace(self, **kwargs)

    @classmethod
    def from_env(cls, home: Path | None = None, env: Mapping[str, str] | None = None) -> DeliveryConfig:
        e = Env(env)
        try:
            mode = activation_mode(env)
            batch = e.integer("CRM_SENDGRID_BATCH", cls.sendgrid_batch)
            lead = e.number("CRM_SENDGRID_SEND_AT_LEAD_SECONDS", cls.sendgrid_send_at_lead_seconds)
            deadline = e.number("CRM_SENDGRID_CANCEL_DEADLINE_SECONDS", cls.sendgrid_cancel_deadline_seconds)
        except SettingsError as exc:
            raise DeliveryConfigError(str(exc)) from None
        if not 1 <= batch <= 1000:
            raise DeliveryConfigError(f"CRM_SENDGRID_BATCH={batch}: SendGrid allows 1..1000 personalizations")
        if lead and not deadline < lead <= 72 * 3600:
            raise DeliveryConfigError(
                f"CRM_SENDGRID_SEND_AT_LEAD_SECONDS={lead:g}: must be 0 (no scheduling) or more than "
                f"CRM_SENDGRID_CANCEL_DEADLINE_SECONDS={deadline:g} (SendGrid cancels no later than that "
                "before send_at) and at most 72 hours"
            )
        # the provider rates protect real accounts; the sandbox sink on loopback needs no
        # protection, so unless set explicitly it runs at SANDBOX_RATE requests per second
        live = mode == "live"
        return cls(
            mode=mode,
            home=Path(home) if home is not None else home_from_env(env),
            sendgrid_base_url=e.text("CRM_SENDGRID_BASE_URL", cls.sendgrid_base_url),
            twilio_base_url=e.text("CRM_TWILIO_BASE_URL", cls.twilio_base_url),
            meta_base_url=e.text("CRM_META_BASE_URL", cls.meta_base_url),
            meta_api_version=e.text("CRM_META_API_VERSION", cls.meta_api_version),
            meta_audience_ids=e.string_map("CRM_META_AUDIENCE_IDS"),
            sendgrid_rate=e.number("CRM_SENDGRID_RATE", cls.sendgrid_rate if live else SANDBOX_RATE),
            twilio_rate=e.number("CRM_TWILIO_RATE", cls.twilio_rate if live else SANDBOX_RATE),
            meta_rate=e.number("CRM_META_RATE", cls.meta_rate if live else SANDBOX_RATE),
            sendgrid_concurrency=e.integer("CRM_SENDGRID_CONCURRENCY", cls.sendgrid_concurrency),
            twilio_concurrency=e.integer("CRM_TWILIO_CONCURRENCY", cls.twilio_concurrency),
            sendgrid_batch=batch,
            sms_ledger_batch=e.integer("CRM_SMS_LEDGER_BATCH", cls.sms_ledger_batch),
            from_email=e.text("CRM_SENDGRID_FROM_EMAIL", cls.from_email),
            from_name=e.text("CRM_SENDGRID_FROM_NAME", cls.from_name),
            asm_group_id=e.integer("CRM_SENDGRID_ASM_GROUP_ID", cls.asm_group_id),
            template_id=e.text("CRM_SENDGRID_TEMPLATE_ID", cls.template_id),
            sendgrid_activity_lookup=e.flag("CRM_SENDGRID_ACTIVITY_LOOKUP", cls.sendgrid_activity_lookup),
            sendgrid_send_at_lead_seconds=lead,
            sendgrid_cancel_deadline_seconds=deadline,
            webhook_base_url=e.text("CRM_WEBHOOK_BASE_URL", cls.webhook_base_url),
            lookup_settle_seconds=e.number("CRM_LOOKUP_SETTLE_SECONDS", cls.lookup_settle_seconds),
            retry=RetryConfig(
                max_attempts=e.integer("CRM_RETRY_MAX_ATTEMPTS", RetryConfig.max_attempts),
                base_seconds=e.number("CRM_RETRY_BASE_SECONDS", RetryConfig.base_seconds),
                max_seconds=e.number("CRM_RETRY_MAX_SECONDS", RetryConfig.max_seconds),
                timeout_seconds=e.number("CRM_HTTP_TIMEOUT", RetryConfig.timeout_seconds),
            ),
            secrets=Secrets.from_env(env),
        )


# ---- the webhook receiver ---------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookConfig:
    landing_dir: Path
    sendgrid_public_key: str | None = field(
        default=None, repr=False
    )  # base64 DER (SENDGRID_WEBHOOK_PUBLIC_KEY)
    twilio_auth_token: str | None = field(default=None, repr=False)  # TWILIO_AUTH_TOKEN
    public_base_url: str | None = None  # the URL base Twilio calls, e.g. https://hooks.example.com
    tolerance_seconds: float = 300.0  # SendGrid timestamp age (either direction) accepted
    replay_window_seconds: float = 600.0  # how long an accepted request is remembered (durably)
    max_body_bytes: int = 8 * 1024 * 1024
    seal_seconds: float = 60.0
    fsync: bool = True

    @classmethod
    def from_env(
        cls, landing_dir: Path | None = None, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> WebhookConfig:
        """The table at the top; `overrides` (e.g. CLI flags) win where not None."""
        env = Env(environ)
        values: dict[str, object] = {
            "landing_dir": Path(landing_dir) if landing_dir is not None else landing_from_env(environ),
            "sendgrid_public_key": env.raw("SENDGRID_WEBHOOK_PUBLIC_KEY"),
            "twilio_auth_token": env.raw("TWILIO_AUTH_TOKEN"),
            "public_base_url": env.raw("CRM_WEBHOOK_PUBLIC_URL"),
            "tolerance_seconds": env.number("CRM_WEBHOOK_TOLERANCE_SECONDS", cls.tolerance_seconds),
            "seal_seconds": env.number("CRM_WEBHOOK_SEAL_SECONDS", cls.seal_seconds),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def __repr__(self) -> str:  # never print secrets
        return (
            f"WebhookConfig(landing_dir={str(self.landing_dir)!r}, sendgrid_key={'set' if self.sendgrid_public_key else 'unset'}, "
            f"twilio_token={'set' if self.twilio_auth_token else 'unset'}, public_base_url={self.public_base_url!r})"
        )
