"""Rendering message content per recipient, and SMS segment counting and cost.

Templates come from the plan and render in a Jinja2 *sandboxed* environment with
`StrictUndefined` (a template naming a missing variable fails instead of printing nothing).
HTML parts autoescape profile values; plain text, SMS, scripts and letters do not.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from jinja2 import StrictUndefined, Template, meta
from jinja2.sandbox import SandboxedEnvironment

from activations.plan.spec import CONTENT_FIELDS, LANGUAGES, Campaign, Plan

# GSM 03.38 basic character set and the extension table (extension characters cost 2 septets).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("^{}\\[~]|€\f")
_THAI_RE = re.compile(r"[\u0E00-\u0E7F]")


@dataclass(frozen=True)
class SmsCount:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def sms_segments(text: str) -> SmsCount:
    """Parts an SMS costs: GSM-7 160 single / 153 per part; UCS-2 70 single / 67 per part."""
    if all(c in _GSM_BASIC or c in _GSM_EXT for c in text):
        units = sum(2 if c in _GSM_EXT else 1 for c in text)
        single, multi, enc = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, enc = 70, 67, "UCS-2"
    if units == 0:
        return SmsCount(enc, 0, 0)
    segs = 1 if units <= single else math.ceil(units / multi)
    return SmsCount(enc, units, segs)


def sms_cost(segments: int, price_per_segment: float) -> float:
    return round(segments * price_per_segment, 4)


def is_thai(text: str | None) -> bool:
    return bool(text) and bool(_THAI_RE.search(text))


def pick_language(plan: Plan, first_name: Any) -> str:
    if plan.language.rule == "name_script" and isinstance(first_name, str) and first_name.strip():
        return "th" if is_thai(first_name) else "en"
    return plan.language.default


def _clean(v: Any) -> Any:
    """None / NaN / NaT render as an empty string; timestamps become dates (shown as YYYY-MM-DD,
    and `strftime` still works in a template)."""
    if v is None or isinstance(v, str):
        return "" if v is None else v
    if isinstance(v, datetime):  # also pandas.Timestamp
        return "" if v != v else v.date()
    if isinstance(v, date):
        return v
    try:
        if v != v:  # NaN
            return ""
    except (TypeError, ValueError):
        pass
    return v


class CampaignRenderer:
    """Compiled templates of one campaign (compile once, render many).

    Rendered texts are memoised by the values of the variables a template uses (most messages
    of a campaign differ only by first name), so equal texts are computed once and shared."""

    CACHE_LIMIT = 200_000

    def __init__(self, plan: Plan, campaign: Campaign, send_date: date):
        self.plan = plan
        self.campaign = campaign
        text_env = SandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
        )
        html_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)
        self.templates: dict[tuple[str, str, str], Template] = {}
        self.variables: dict[tuple[str, str, str], tuple[str, ...]] = {}
        for ch in campaign.channels:
            cc = campaign.content[ch]
            for fname in CONTENT_FIELDS[ch]:
                loc = getattr(cc, fname)
                for lang in LANGUAGES:
                    env = html_env if fname == "html" else text_env
                    source = getattr(loc, lang)
                    self.templates[(ch, fname, lang)] = env.from_string(source)
                    self.variables[(ch, fname, lang)] = tuple(
                        sorted(meta.find_undeclared_variables(env.parse(source)))
                    )
        self.base = {
            "campaign_id": campaign.id,
            "campaign_name": campaign.name,
            "send_date": send_date.isoformat(),
            "start_date": campaign.start_date.isoformat(),
            "end_date": campaign.end_date.isoformat(),
            **{k: (v.isoformat() if isinstance(v, date) else v) for k, v in campaign.variables.items()},
        }
        self._cache: dict[tuple, str] = {}

    def profile_fields(self, channel: str) -> set[str]:
        """Profile fields the channel's templates read."""
        names: set[str] = set()
        for (ch, _, _), vs in self.variables.items():
            if ch == channel:
                names.update(vs)
        return names - set(self.base) - {"language"}

    def context(self, profile: dict[str, Any], language: str) -> dict[str, Any]:
        ctx = {k: _clean(v) for k, v in profile.items()}
        ctx.update(self.base)
        ctx["language"] = language
        return ctx

    def render(self, channel: str, profile: dict[str, Any], language: str | None = None) -> dict[str, str]:
        """Rendered content fields of `channel` for one profile: {field: text}."""
        lang = language or pick_language(self.plan, profile.get("first_name"))
        out = {}
        for fname in CONTENT_FIELDS[channel]:
            key_t = (channel, fname, lang)
            names = self.variables[key_t]
            values = tuple(_clean(profile[n]) if n in profile else _MISSING for n in names)
            key = (key_t, values)
            text = self._cache.get(key)
            if text is None:
                ctx = {n: v for n, v in zip(names, values, strict=True) if v is not _MISSING}
                ctx.update(self.base)
                ctx["language"] = lang
                text = self.templates[key_t].render(ctx)
                if fname in ("subject", "body"):
                    text = " ".join(text.split())  # one line: no header injection, no stray newlines in SMS
                if len(self._cache) >= self.CACHE_LIMIT:
                    self._cache.clear()
                self._cache[key] = text
            out[fname] = text
        out["language"] = lang
        return out


_MISSING = object()
