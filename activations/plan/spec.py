"""The communication plan: load `plan.yml`, validate it, compile segments to parameterised SQL.

Errors name the file and the YAML line at fault (`PlanError`). Segment conditions are a small
safe vocabulary: a field from a whitelist of `marts.customer_profiles` columns, an operator from
a fixed set, and a literal of the field's type. They compile to SQL with `?` placeholders; no
text from the file ever reaches the SQL except whitelisted column names.
"""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from crmloop.predict.clv import P_ALIVE_LEVEL

DEFAULT_PLAN_PATH = Path(__file__).resolve().parent / "plan.yml"
"""The default communication plan shipped with crmloop (docs/DOMAIN.md's four campaigns)."""

CHANNELS: tuple[str, ...] = ("email", "sms", "ads", "direct_mail", "phone")
"""Every channel a plan may name. `ads` = ad-platform audiences (Meta, Google Customer Match)."""

MESSAGE_CHANNELS: tuple[str, ...] = ("email", "sms", "direct_mail", "phone")
"""Channels that put a message in front of a person (these count towards the frequency cap)."""

LIST_CHANNELS: frozenset[str] = frozenset({"phone", "direct_mail", "ads"})
"""Channels delivered as a list in the run's own output (call and mail lists, ad audiences), not
message by message through a provider: everyone eligible on the list was sent it."""
LIST_CHANNELS_SQL = ", ".join(f"'{c}'" for c in sorted(LIST_CHANNELS))
"""LIST_CHANNELS as a SQL list, for `channel in (...)`."""

# ---------------------------------------------------------------------------------------------
# Profile fields: the only columns a segment condition or a template may name.
STR_FIELDS = (
    "customer_id", "rank", "first_name", "last_name", "email", "email_source", "phone", "phone_source",
    "address", "district", "province", "postal_code", "gender", "age_band", "occupation", "rfm_segment",
    "consent_email", "consent_sms", "consent_phone", "consent_dm", "consent_ads",
    # further profile columns (used when the warehouse has them)
    "address_source", "preferred_channel", "preferred_store", "top_category", "favourite_season",
    "next_best_category", "next_best_category_source", "best_send_hour_source",
    "top_search_term_1", "top_search_term_2", "top_search_term_3",
)  # fmt: skip
INT_FIELDS = (
    "days_since_last_order", "orders_3y", "orders_lifetime", "sessions_30d", "sessions_90d", "page_views_30d",
    "page_views_90d", "tickets_12m", "open_tickets", "r_score", "f_score", "m_score", "best_send_hour",
)  # fmt: skip
FLOAT_FIELDS = (
    "spend_3y", "spend_lifetime", "avg_order_value", "items_per_order", "mean_days_between_orders",
    "weekend_share", "evening_share",
    # predictions (dbt_project/models/marts/predictions: BG/NBD, Gamma-Gamma), null for a Prospect
    "p_alive", "expected_purchases_30d", "expected_purchases_90d", "expected_purchases_365d",
    "expected_spend_per_order", "clv_12m",
)  # fmt: skip
BOOL_FIELDS = (
    "has_valid_email", "has_valid_mobile", "has_postal_address",
    "email_reachable", "sms_reachable", "phone_reachable", "dm_reachable", "ads_reachable",
)  # fmt: skip
DATE_FIELDS = (
    "first_order_at", "last_order_at", "as_of", "birth_date", "last_login_at", "registered_at", "p_alive_half_on",
)  # fmt: skip
FIELD_TYPES: dict[str, str] = {
    **{f: "str" for f in STR_FIELDS},
    **{f: "int" for f in INT_FIELDS},
    **{f: "float" for f in FLOAT_FIELDS},
    **{f: "bool" for f in BOOL_FIELDS},
    **{f: "date" for f in DATE_FIELDS},
}
PROFILE_COLUMNS: tuple[str, ...] = tuple(FIELD_TYPES)

CONSENT_COLUMN = {
    "email": "consent_email",
    "sms": "consent_sms",
    "phone": "consent_phone",
    "direct_mail": "consent_dm",
    "ads": "consent_ads",
}

# Variables a template may use besides the profile fields.
EXTRA_TEMPLATE_VARS = ("campaign_id", "campaign_name", "send_date", "start_date", "end_date", "language")

OPS = ("=", "!=", ">", ">=", "<", "<=", "in", "not_in", "is_null", "not_null")
_ORDERED_OPS = (">", ">=", "<", "<=")

# Per channel: the template fields its content must carry.
CONTENT_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "text", "html"),
    "sms": ("body",),
    "phone": ("script",),
    "direct_mail": ("letter",),
    "ads": (),
}
LANGUAGES = ("th", "en")
KPI_METRICS = ("attend_rate", "apply_rate", "open_rate", "click_rate", "purchase_rate")

_ID_RE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_RANK_RE = re.compile(r"^[A-Za-z][A-Za-z0-9 _-]{0,39}$")


class PlanError(ValueError):
    """A plan that cannot be used; the message names the file, the line and the reason."""


# ---------------------------------------------------------------------------------------------
# Models


def _one_of(what: str, allowed, *, listed: list[str] | None = None, before: bool = False):
    """A field validator: the value is one of `allowed`, else "unknown <what> 'x'; allowed: a, b"."""
    names = ", ".join(listed if listed is not None else allowed)

    def check(v: Any) -> Any:
        if v not in allowed:
            raise ValueError(f"unknown {what} {v!r}; allowed: {names}")
        return v

    return BeforeValidator(check) if before else AfterValidator(check)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Literal_ = str | int | float | bool | date


class Condition(_Strict):
    field: Annotated[str, _one_of("field", FIELD_TYPES, listed=sorted(FIELD_TYPES))]
    op: Annotated[str, _one_of("operator", OPS)]
    value: Any = None

    @model_validator(mode="after")
    def _typed_value(self) -> Condition:
        ftype = FIELD_TYPES[self.field]
        if self.op in ("is_null", "not_null"):
            if self.value is not None:
                raise ValueError(f"operator {self.op!r} takes no value")
            return self
        if self.op in ("in", "not_in"):
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"operator {self.op!r} needs a non-empty list of values")
            if len(self.value) > 1000:
                raise ValueError("at most 1000 values in a list")
            object.__setattr__(self, "value", [_check_literal(self.field, ftype, v) for v in self.value])
            return self
        if ftype in ("str", "bool") and self.op in _ORDERED_OPS:
            raise ValueError(f"operator {self.op!r} is not allowed on {ftype} field {self.field!r}")
        object.__setattr__(self, "value", _check_literal(self.field, ftype, self.value))
        return self

    def describe(self) -> str:
        if self.op in ("is_null", "not_null"):
            return f"{self.field} {self.op.replace('_', ' ')}"
        return f"{self.field} {self.op.replace('_', ' ')} {self.value!r}"


def _check_literal(fname: str, ftype: str, v: Any) -> Any:
    if ftype == "str":
        if not isinstance(v, str) or len(v) > 200:
            raise ValueError(f"{fname} needs a text value (at most 200 characters), got {v!r}")
        return v
    if ftype == "bool":
        if not isinstance(v, bool):
            raise ValueError(f"{fname} needs true or false, got {v!r}")
        return v
    if ftype == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{fname} needs a whole number, got {v!r}")
        return v
    if ftype == "float":
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{fname} needs a number, got {v!r}")
        return float(v)
    if ftype == "date":
        if isinstance(v, date):
            return v
        if isinstance(v, str):
            try:
                return date.fromisoformat(v)
            except ValueError:
                pass
        raise ValueError(f"{fname} needs a date YYYY-MM-DD, got {v!r}")
    raise ValueError(f"unsupported type {ftype}")  # pragma: no cover - FIELD_TYPES is closed


class Segment(_Strict):
    rank: list[str]
    conditions: list[Condition] = Field(default_factory=list)

    @field_validator("rank", mode="before")
    @classmethod
    def _rank_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("rank")
    @classmethod
    def _rank_names(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one rank")
        for r in v:
            if not _RANK_RE.match(r):
                raise ValueError(f"rank {r!r} is not a valid rank name")
        return v

    def describe(self) -> str:
        parts = [f"rank in {self.rank!r}" if len(self.rank) > 1 else f"rank = {self.rank[0]!r}"]
        parts += [c.describe() for c in self.conditions]
        return " AND ".join(parts)


class Localized(_Strict):
    th: str
    en: str


class ChannelContent(_Strict):
    subject: Localized | None = None
    text: Localized | None = None
    html: Localized | None = None
    body: Localized | None = None
    script: Localized | None = None
    letter: Localized | None = None
    audience_name: str | None = None  # ads: the name of the ad-platform audience


KINDS = ("trigger", "broadcast", "recurring")
"""How people enter a campaign: on an event (trigger), in one wave on a date (broadcast), or
whenever they are in the segment, no more often than its `reentry` allows (recurring)."""

TRIGGER_EVENTS = ("first_order", "registration", "rank_change", "threshold", "response", "no_response")
"""Events a trigger campaign may enter people on (each read from the warehouse as of the run)."""

THRESHOLD_EVENT_DATES = {"days_since_last_order": "last_order_at"}
"""Threshold fields whose crossing date the warehouse knows: days_since_last_order crosses N on
last_order_at + N days (+1 for `>`). Other fields have no history to find a crossing in."""

CROSSING_DATES = {("p_alive", "<", P_ALIVE_LEVEL): "p_alive_half_on"}
"""Crossings of one level whose date the warehouse records: P(alive) falls below 0.5 on
p_alive_half_on (the day it does without another purchase, from this run's BG/NBD fit)."""

FOLLOW_UP_TARGETS = ("non_responders", "all")


def _at(path: str, message: str) -> ValueError:
    """A validation error about a key below the model (`parse_plan` reports that key's line)."""
    return ValueError(f"@{path}: {message}")


_AT_RE = re.compile(r"^(?:Value error, )?@([\w.]+): (.*)$", re.S)


class Reentry(_Strict):
    after_days: Annotated[int, Field(ge=1, le=3650)]


def _reentry(v: Any) -> Any:
    if v == "never" or v is None or isinstance(v, Reentry):
        return v
    if isinstance(v, dict):
        return Reentry.model_validate(v)
    raise ValueError(f"reentry must be 'never' or {{after_days: N}}, got {v!r}")


def _check_crossing(field: str | None, op: str | None, value: Any) -> Any:
    """The typed value of a crossing the warehouse can date (THRESHOLD_EVENT_DATES, CROSSING_DATES)."""
    if field in THRESHOLD_EVENT_DATES:
        if op not in (">", ">="):
            raise ValueError(f"threshold operator must be '>' or '>=' (a crossing upwards), got {op!r}")
        value = _check_literal(field, FIELD_TYPES[field], value)
        if value < 0:
            raise ValueError("threshold value must not be negative")
        return value
    levels = [(f, o, v) for (f, o, v) in CROSSING_DATES if f == field]
    if levels:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (field, op, value) not in CROSSING_DATES
        ):
            known = ", ".join(f"{f} {o} {v}" for f, o, v in levels)
            raise ValueError(f"threshold on {field!r}: the warehouse dates only the crossing {known}")
        return float(value)
    known = [*THRESHOLD_EVENT_DATES, *(f"{f} {o} {v}" for f, o, v in CROSSING_DATES)]
    raise ValueError(
        f"threshold on {field!r}: the warehouse knows when a field crosses a value only for {', '.join(known)}"
    )


class Crossing(_Strict):
    """One threshold crossing of a trigger: days_since_last_order > N, or p_alive < 0.5."""

    field: str
    op: str
    value: Any

    @model_validator(mode="after")
    def _datable(self) -> Crossing:
        object.__setattr__(self, "value", _check_crossing(self.field, self.op, self.value))
        return self

    def date_column(self) -> str:
        """The profile column its crossing date comes from."""
        return THRESHOLD_EVENT_DATES.get(self.field) or CROSSING_DATES[(self.field, self.op, self.value)]


class Trigger(_Strict):
    event: Annotated[str, _one_of("trigger event", TRIGGER_EVENTS)]
    delay_days: Annotated[int, Field(ge=0, le=365)] = 0
    entry_window_days: Annotated[int, Field(ge=0, le=3650)] = 7
    to: str | None = None  # rank_change: the rank a person changes to
    field: str | None = None  # threshold
    op: str | None = None
    value: Any = None
    campaign: str | None = None  # response / no_response: the other campaign
    after_days: Annotated[int, Field(ge=1, le=365)] | None = None  # no_response: days without a response
    any_of: list[Crossing] | None = None  # threshold: enters on the first of several crossings

    @model_validator(mode="after")
    def _event_options(self) -> Trigger:
        e = self.event
        given = {
            k
            for k in ("to", "field", "op", "value", "campaign", "after_days", "any_of")
            if getattr(self, k) is not None
        }
        if e == "threshold" and "any_of" in given:  # several crossings instead of field/op/value
            if given & {"field", "op", "value"}:
                raise ValueError("a threshold trigger takes either field/op/value or any_of, not both")
            if not self.any_of:
                raise ValueError("trigger any_of needs at least one {field, op, value}")
            given = (given - {"any_of"}) | {"field", "op", "value"}
        needed = {
            "first_order": set(),
            "registration": set(),
            "rank_change": {"to"},
            "threshold": {"field", "op", "value"},
            "response": {"campaign"},
            "no_response": {"campaign", "after_days"},
        }[e]
        if needed - given:
            raise ValueError(f"trigger event {e!r} needs {', '.join(sorted(needed - given))}")
        if given - needed:
            raise ValueError(f"trigger event {e!r} takes no {', '.join(sorted(given - needed))}")
        if e == "rank_change" and not _RANK_RE.match(self.to or ""):
            raise ValueError(f"rank {self.to!r} is not a valid rank name")
        if e == "threshold" and self.any_of is None:
            object.__setattr__(self, "value", _check_crossing(self.field, self.op, self.value))
        if self.entry_window_days < self.delay_days:
            raise ValueError(
                f"entry_window_days {self.entry_window_days} is shorter than delay_days {self.delay_days}: "
                "nobody could ever enter"
            )
        return self

    def crossings(self) -> list[Crossing]:
        """A threshold trigger's crossings (one, or its any_of list)."""
        if self.any_of is not None:
            return list(self.any_of)
        return [Crossing(field=self.field, op=self.op, value=self.value)]

    def describe(self) -> str:
        e = self.event
        if e == "rank_change":
            return f"became {self.to}"
        if e == "threshold":
            return " or ".join(f"{c.field} crossed {c.op} {c.value}" for c in self.crossings())
        if e == "response":
            return f"responded to {self.campaign}"
        if e == "no_response":
            return f"no response to {self.campaign} within {self.after_days} days"
        return {"first_order": "first completed order", "registration": "registered"}[e]


class FollowUp(_Strict):
    after_days: Annotated[int, Field(ge=1, le=365)]
    channel: Literal["email", "sms", "ads", "direct_mail", "phone"]
    to: Annotated[str, _one_of("follow-up target ('to')", FOLLOW_UP_TARGETS)] = "non_responders"


class Kpi(_Strict):
    metric: Literal["attend_rate", "apply_rate", "open_rate", "click_rate", "purchase_rate"]
    target: Annotated[float, Field(gt=0, le=1)]
    window_days: Annotated[int, Field(ge=1, le=365)]


def _hhmm(v: Any) -> Any:
    """A wall-clock time as written in the plan: "HH:MM" (YAML 1.1 reads 21:00 unquoted as the
    sexagesimal 1260: minutes, turned back into the time)."""
    if isinstance(v, int) and not isinstance(v, bool):
        if not 0 <= v < 24 * 60:
            raise ValueError(f'{v} is not a time of day (write it as "HH:MM")')
        return time(v // 60, v % 60)
    return v


SEND_TIME_PERSONAL = "personal"


def _send_time(v: Any) -> Any:
    if v is None or v == SEND_TIME_PERSONAL or isinstance(v, time):
        return v
    v = _hhmm(v)
    if isinstance(v, str):
        m = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", v.strip())
        if not m:
            raise ValueError(f"send_time must be 'personal' or a time \"HH:MM\", not {v!r}")
        return time(int(m.group(1)), int(m.group(2)))
    if not isinstance(v, time):
        raise ValueError(f"send_time must be 'personal' or a time \"HH:MM\", not {v!r}")
    return v


class SendTimeControl(_Strict):
    """The holdout-style split of a `send_time: personal` campaign: `share` of its audience (a
    stable hash of campaign and customer, independent of the holdout) is sent at `at` ("HH:MM";
    unset: at once, as without send_time) instead of their own hour."""

    share: Annotated[float, Field(gt=0, lt=1)]
    at: Annotated[time | None, BeforeValidator(_hhmm)] = None


class Campaign(_Strict):
    id: str
    name: str
    objective: str
    segment: Segment
    channels: list[Literal["email", "sms", "ads", "direct_mail", "phone"]]
    content: dict[str, ChannelContent]
    kpi: Kpi
    start_date: date
    end_date: date
    holdout_share: Annotated[float, Field(ge=0, lt=1)] = 0.0
    unknown_consent_allowed: list[Literal["email", "sms", "ads", "direct_mail", "phone"]] = Field(
        default_factory=list
    )
    email_unsubscribe_group: int | None = None  # SendGrid asm group id
    kind: Annotated[
        Literal["trigger", "broadcast", "recurring"], _one_of("campaign kind", KINDS, before=True)
    ]
    status: Literal["draft", "active"] = "active"  # draft: preview only, never sent
    trigger: Trigger | None = None  # kind trigger
    send_on: date | None = None  # kind broadcast: the date of the wave
    reentry: Any = None  # "never" | {after_days: N}; trigger default never, recurring required
    first_send: list[Literal["email", "sms", "ads", "direct_mail", "phone"]] | None = (
        None  # default: channels
    )
    follow_ups: list[FollowUp] = Field(default_factory=list)
    variables: dict[str, str | int | float | date] = Field(default_factory=dict)  # extra template variables
    # names of the plan's file_deliveries that receive this campaign's export files
    deliver_files: list[str] = Field(default_factory=list)
    # when email and SMS go out (activations/audiences/send_times.py): unset = at once; "HH:MM";
    # personal = each person's best_send_hour (customer_profiles); SMS quiet hours still win
    send_time: Annotated[Literal["personal"] | time | None, BeforeValidator(_send_time)] = None
    send_time_control: SendTimeControl | None = None

    @field_validator("reentry", mode="before")
    @classmethod
    def _reentry_form(cls, v: Any) -> Any:
        return _reentry(v)

    @field_validator("id")
    @classmethod
    def _id_slug(cls, v: str) -> str:
        if not _ID_RE.match(v):
            raise ValueError(
                f"campaign id {v!r} must be lower-case letters, digits and _ (2–63, letter first)"
            )
        return v

    @model_validator(mode="after")
    def _coherent(self) -> Campaign:
        if not self.channels:
            raise ValueError("a campaign needs at least one channel")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels are listed twice")
        if self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        for key in self.content:
            if key not in CHANNELS:
                raise ValueError(f"content for unknown channel {key!r}")
            if key not in self.channels:
                raise ValueError(f"content for channel {key!r} which is not in channels")
        for ch in self.channels:
            cc = self.content.get(ch)
            if cc is None:
                raise ValueError(f"channel {ch!r} has no content")
            for fname in ("subject", "text", "html", "body", "script", "letter"):
                present = getattr(cc, fname) is not None
                if fname in CONTENT_FIELDS[ch] and not present:
                    raise ValueError(f"channel {ch!r} needs content field {fname!r}")
                if fname not in CONTENT_FIELDS[ch] and present:
                    raise ValueError(f"content field {fname!r} does not belong to channel {ch!r}")
            if ch == "ads" and not cc.audience_name:
                raise ValueError("channel 'ads' needs content.ads.audience_name")
        self._coherent_kind()
        if self.send_time_control is not None and self.send_time != SEND_TIME_PERSONAL:
            raise _at(
                "send_time_control",
                "send_time_control splits a campaign with send_time: personal (this one has "
                f"send_time: {self.send_time})",
            )
        if self.send_time is not None and not set(self.channels) & {"email", "sms"}:
            raise _at("send_time", "send_time applies to email and sms; this campaign has neither")
        return self

    def _coherent_kind(self) -> None:
        if self.kind == "trigger" and self.trigger is None:
            raise _at("kind", "a trigger campaign needs 'trigger' (event, delay_days, entry_window_days)")
        if self.kind != "trigger" and self.trigger is not None:
            raise _at("trigger", f"'trigger' belongs to trigger campaigns, this one is {self.kind}")
        if self.kind == "broadcast":
            if self.send_on is None:
                raise _at("kind", "a broadcast campaign needs 'send_on' (the date of the wave)")
            if not self.start_date <= self.send_on <= self.end_date:
                raise _at("send_on", f"send_on {self.send_on} is outside start_date … end_date")
            if self.reentry is not None:
                raise _at("reentry", "a broadcast is one wave: it takes no 'reentry'")
        elif self.send_on is not None:
            raise _at("send_on", f"'send_on' belongs to broadcast campaigns, this one is {self.kind}")
        if self.kind == "recurring":
            if self.reentry is None:
                raise _at(
                    "kind",
                    "a recurring campaign needs 'reentry' ('never' or {after_days: N}): there is no default "
                    "that re-sends every day",
                )
            if self.follow_ups:
                raise _at("follow_ups", "follow_ups belong to trigger and broadcast campaigns")
        if self.kind == "trigger" and self.reentry is None:
            object.__setattr__(self, "reentry", "never")
        if self.trigger is not None and self.trigger.campaign == self.id:
            raise _at("trigger.campaign", "a trigger cannot be a response to the campaign itself")
        first = self.first_send if self.first_send is not None else list(self.channels)
        for ch in first:
            if ch not in self.channels:
                raise _at("first_send", f"first_send names channel {ch!r} which is not in channels")
        if not first:
            raise _at("first_send", "first_send is empty: the campaign would never send its first message")
        days = set()
        for i, fu in enumerate(self.follow_ups):
            if fu.channel not in self.channels:
                raise _at(
                    f"follow_ups.{i}.channel",
                    f"follow-up after {fu.after_days} days on channel {fu.channel!r}, which the campaign does "
                    f"not use (channels: {', '.join(self.channels)})",
                )
            if (fu.after_days, fu.channel) in days:
                raise _at(f"follow_ups.{i}", f"two follow-ups on {fu.channel!r} after {fu.after_days} days")
            days.add((fu.after_days, fu.channel))
        unused = [
            ch for ch in self.channels if ch not in first and ch not in {f.channel for f in self.follow_ups}
        ]
        if unused:
            raise _at(
                "channels", f"channel(s) {unused} are neither in first_send nor in a follow-up: never sent"
            )
        clash = sorted(set(self.variables) & (set(FIELD_TYPES) | set(EXTRA_TEMPLATE_VARS)))
        if clash:
            raise _at(
                "variables", f"variables {clash} would hide a profile field or a built-in template variable"
            )
        for name in self.variables:
            if not _ID_RE.match(name):
                raise _at("variables", f"variable name {name!r} must be lower-case letters, digits and _")

    @property
    def first_channels(self) -> list[str]:
        """Channels of the first send (entry day); the others go out only as follow-ups."""
        return list(self.first_send) if self.first_send is not None else list(self.channels)

    @property
    def journey_days(self) -> int:
        """Days from entry to the last follow-up (0 without follow-ups)."""
        return max((f.after_days for f in self.follow_ups), default=0)

    def active_on(self, day: date) -> bool:
        return self.start_date <= day <= self.end_date

    def content_hash(self) -> str:
        """sha256 of what a person receives and who receives it: name, segment, channels, every
        template, the journey rules and dates (not the KPI, the objective or the status). An
        approval is for one content hash; any change needs a new one."""
        import hashlib
        import json

        body = self.model_dump(
            mode="json",
            exclude={"kpi", "objective", "status", "deliver_files"},
            warnings=False,
        )
        for key in ("send_time", "send_time_control"):  # unset: the hash of a plan from before them
            if body.get(key) is None:
                body.pop(key, None)
        body["reentry"] = self.reentry if isinstance(self.reentry, str | None) else self.reentry.model_dump()
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def reentry_days(self) -> int | None:
        """Days after an entry before the same person may enter again; None = never."""
        return None if self.reentry in (None, "never") else self.reentry.after_days


class EmailSender(_Strict):
    address: str
    name: str = ""
    reply_to: str | None = None

    @field_validator("address")
    @classmethod
    def _addr(cls, v: str) -> str:
        if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", v):
            raise ValueError(f"{v!r} is not an email address")
        return v


class SmsSender(_Strict):
    sender_id: str
    messaging_service_sid: str | None = None  # a Twilio id (config, not a secret)


class Senders(_Strict):
    email: EmailSender
    sms: SmsSender


class FrequencyCap(_Strict):
    max_messages: Annotated[int, Field(ge=1)]
    window_days: Annotated[int, Field(ge=1, le=365)]
    channels: list[Literal["email", "sms", "ads", "direct_mail", "phone"]] = Field(
        default_factory=lambda: list(MESSAGE_CHANNELS)
    )


class QuietHours(_Strict):
    start: time = time(21, 0)
    end: time = time(8, 0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _hhmm(cls, v: Any) -> Any:
        return _hhmm(v)


class SmsSettings(_Strict):
    price_per_segment: Annotated[float, Field(ge=0)] = 0.0
    quiet_hours: QuietHours = Field(default_factory=QuietHours)


class LanguageRule(_Strict):
    default: Literal["th", "en"] = "th"
    rule: Literal["name_script", "default"] = "name_script"


_ENV_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EXPORT_FILE_KINDS = ("xlsx", "csv")


def _env_name(v: str | None) -> str | None:
    if v is not None and not _ENV_NAME_RE.match(v):
        raise ValueError(
            f"{v!r} is not an environment variable name (the secret itself never goes in the plan)"
        )
    return v


class SftpDelivery(_Strict):
    """An SFTP server marketers read from. Files go to <folder>/<send_date>/<campaign_id>/. The
    server's host key is configuration (public); the password or private key come from the
    environment variables named here, never from the plan."""

    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    username: str
    folder: str = "."
    host_key: str  # "<type> <base64>", as in known_hosts / ssh-keyscan (without the host name)
    password_env: str | None = None
    private_key_env: str | None = None  # the variable holds the private key text (OpenSSH / PEM)

    @field_validator("password_env", "private_key_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        return _env_name(v)

    @field_validator("host_key")
    @classmethod
    def _key_form(cls, v: str) -> str:
        parts = v.split()
        if len(parts) != 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
            raise ValueError(f"host_key must be '<type> <base64>' (e.g. 'ssh-ed25519 AAAA...'), not {v!r}")
        return v

    @model_validator(mode="after")
    def _credential(self) -> SftpDelivery:
        if not (self.password_env or self.private_key_env):
            raise ValueError("an sftp delivery needs password_env or private_key_env (a variable name)")
        return self


class EmailDelivery(_Strict):
    """A list of people who receive the files attached to one email (through SendGrid)."""

    to: list[str]
    files: list[Literal["xlsx", "csv"]] = Field(default_factory=lambda: list(EXPORT_FILE_KINDS))

    @field_validator("to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("an email delivery needs at least one address in `to`")
        for a in v:
            if not _EMAIL_RE.match(a):
                raise ValueError(f"{a!r} is not an email address")
        if len({a.lower() for a in v}) != len(v):
            raise ValueError("an address is listed twice in `to`")
        return v


class FileDelivery(_Strict):
    """Where a campaign's export files go: exactly one of `sftp` or `email`."""

    sftp: SftpDelivery | None = None
    email: EmailDelivery | None = None

    @model_validator(mode="after")
    def _one(self) -> FileDelivery:
        if (self.sftp is None) == (self.email is None):
            raise ValueError("a file delivery is exactly one of `sftp` or `email`")
        return self

    @property
    def kind(self) -> str:
        return "sftp" if self.sftp is not None else "email"


class Plan(_Strict):
    version: Literal[1]
    timezone: str = "Asia/Bangkok"
    currency: str = "THB"
    senders: Senders
    frequency_cap: FrequencyCap
    sms: SmsSettings = Field(default_factory=SmsSettings)
    language: LanguageRule = Field(default_factory=LanguageRule)
    # where marketers receive export files: name -> destination (campaigns list names)
    file_deliveries: dict[str, FileDelivery] = Field(default_factory=dict)
    campaigns: list[Campaign]

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _unique_ids(self) -> Plan:
        if not self.campaigns:
            raise ValueError("the plan has no campaigns")
        seen: set[str] = set()
        for c in self.campaigns:
            if c.id in seen:
                raise ValueError(f"campaign id {c.id!r} is used twice")
            seen.add(c.id)
        for i, c in enumerate(self.campaigns):
            unknown = [d for d in c.deliver_files if d not in self.file_deliveries]
            if unknown:
                known = ", ".join(sorted(self.file_deliveries)) or "none declared"
                raise _at(
                    f"campaigns.{i}.deliver_files",
                    f"campaign {c.id!r}: deliver_files names unknown file_deliveries {unknown} (declared: {known})",
                )
            if len(set(c.deliver_files)) != len(c.deliver_files):
                raise _at(
                    f"campaigns.{i}.deliver_files", f"campaign {c.id!r}: a file delivery is listed twice"
                )
        for c in self.campaigns:
            if c.trigger is not None and c.trigger.campaign is not None and c.trigger.campaign not in seen:
                i = self.campaigns.index(c)
                raise _at(
                    f"campaigns.{i}.trigger.campaign",
                    f"campaign {c.id!r}: trigger on unknown campaign {c.trigger.campaign!r}",
                )
        return self

    def campaign(self, campaign_id: str) -> Campaign:
        for c in self.campaigns:
            if c.id == campaign_id:
                return c
        raise KeyError(campaign_id)


# ---------------------------------------------------------------------------------------------
# Segment → SQL


def compile_segment(segment: Segment, table: str = "marts.customer_profiles") -> tuple[str, list[Any]]:
    """`WHERE` clause (without the keyword) and its parameters. Only whitelisted names reach SQL."""
    if table not in ("marts.customer_profiles", "p"):
        raise ValueError(f"unexpected table {table!r}")
    clauses = [f'"rank" IN ({", ".join("?" for _ in segment.rank)})']
    params: list[Any] = list(segment.rank)
    for cond in segment.conditions:
        col = cond.field
        if col not in FIELD_TYPES:  # re-checked: models can be built without validation
            raise ValueError(f"unknown field {col!r}")
        ident = f'"{col}"'
        if FIELD_TYPES[col] == "date":
            ident = f'CAST("{col}" AS DATE)'
        if cond.op == "is_null":
            clauses.append(f"{ident} IS NULL")
        elif cond.op == "not_null":
            clauses.append(f"{ident} IS NOT NULL")
        elif cond.op in ("in", "not_in"):
            marks = ", ".join("?" for _ in cond.value)
            clauses.append(f"{ident} {'IN' if cond.op == 'in' else 'NOT IN'} ({marks})")
            params.extend(cond.value)
        elif cond.op in ("=", "!=", ">", ">=", "<", "<="):
            clauses.append(f"{ident} {cond.op} ?")
            params.append(cond.value)
        else:  # pragma: no cover - validated
            raise ValueError(f"unknown operator {cond.op!r}")
    return " AND ".join(f"({c})" for c in clauses), params


# ---------------------------------------------------------------------------------------------
# Loading with line numbers


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that keeps the composed node tree so errors can name a line."""


def _node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            if nxt is None:
                break
            node = nxt
            if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
                line = node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _template_env() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=False)


def template_fields(campaign: Campaign) -> set[str]:
    """Profile fields the campaign's templates read."""
    env = _template_env()
    names: set[str] = set()
    for ch, cc in campaign.content.items():
        for fname in CONTENT_FIELDS.get(ch, ()):
            loc_obj = getattr(cc, fname)
            for lang in LANGUAGES:
                names |= meta.find_undeclared_variables(env.parse(getattr(loc_obj, lang)))
    return names - set(EXTRA_TEMPLATE_VARS) - set(campaign.variables)


_SAMPLE_VALUES = {"str": "ทดสอบ", "int": 1, "float": 1.5, "bool": True, "date": date(2026, 1, 1)}
_SAMPLE_CONTEXT = {
    **{f: _SAMPLE_VALUES[t] for f, t in FIELD_TYPES.items()},
    **{v: "2026-01-01" for v in EXTRA_TEMPLATE_VARS},
    "language": "th",
}


def _check_templates(plan: Plan, root: yaml.Node | None, source: str) -> None:
    env = _template_env()
    strict = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    for ci, camp in enumerate(plan.campaigns):
        allowed = set(PROFILE_COLUMNS) | set(EXTRA_TEMPLATE_VARS) | set(camp.variables)
        context = {**_SAMPLE_CONTEXT, **camp.variables}
        for ch, cc in camp.content.items():
            for fname in CONTENT_FIELDS.get(ch, ()):
                loc_obj = getattr(cc, fname)
                for lang in LANGUAGES:
                    text = getattr(loc_obj, lang)
                    loc = ("campaigns", ci, "content", ch, fname, lang)
                    where = f"{source}:{_node_line(root, loc)}"
                    try:
                        ast = env.parse(text)
                    except TemplateSyntaxError as exc:
                        raise PlanError(
                            f"{where}: campaigns[{ci}] ({camp.id}) content.{ch}.{fname}.{lang}: "
                            f"template syntax error (template line {exc.lineno}): {exc.message}"
                        ) from None
                    unknown = meta.find_undeclared_variables(ast) - allowed
                    if unknown:
                        raise PlanError(
                            f"{where}: campaigns[{ci}] ({camp.id}) content.{ch}.{fname}.{lang}: "
                            f"unknown template variable(s) {sorted(unknown)}; allowed: profile fields, "
                            f"{', '.join(EXTRA_TEMPLATE_VARS)} and the campaign's variables"
                        )
                    try:  # a trial render in the sandbox with typed sample values
                        strict.from_string(text).render(context)
                    except Exception as exc:  # noqa: BLE001 - any failure is the plan's fault; report it
                        raise PlanError(
                            f"{where}: campaigns[{ci}] ({camp.id}) content.{ch}.{fname}.{lang}: "
                            f"template fails on sample values: {type(exc).__name__}: {exc}"
                        ) from None


def parse_plan(text: str, source: str = "<plan>") -> Plan:
    """Validate plan YAML text. Raises PlanError naming `source:line` and the reason."""
    try:
        root = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PlanError(f"{source}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise PlanError(f"{source}:1: the plan must be a mapping with 'version', 'senders', 'campaigns', ...")
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))
            )
            msg = err["msg"]
            at = _AT_RE.match(msg)
            if at:  # a model-level rule about one of its keys: name that key's line
                loc = (*loc, *(int(p) if p.isdigit() else p for p in at[1].split(".")))
                msg = at[2]
            line = _node_line(root, loc)
            path = ".".join(str(p) for p in loc) or "(top)"
            lines.append(f"{source}:{line}: {path}: {msg}")
        raise PlanError("invalid plan:\n" + "\n".join(lines)) from None
    _check_templates(plan, root, source)
    return plan


def load_plan(path: str | Path) -> Plan:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"{p}: cannot read the plan: {exc.strerror or exc}") from None
    return parse_plan(text, source=str(p))


def coerce_plan(plan: Plan | str | Path) -> Plan:
    return plan if isinstance(plan, Plan) else load_plan(plan)
