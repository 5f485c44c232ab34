"""Normalise-then-SHA-256 rules of the ad platforms (pure functions).

Meta (Custom Audiences, "customer file" normalisation):
- EMAIL: trim, lower-case.
- PHONE: digits only, with the country code, no `+` and no leading zeros of a trunk prefix
  (Thai `081-234-5678` → `66812345678`).
- FN / LN: lower-case, punctuation removed, trimmed (UTF-8 Thai letters kept).
- COUNTRY: ISO 3166-1 alpha-2, lower-case. ZIP: lower-case, no spaces or dashes.

Google Ads Customer Match:
- Email: trim, lower-case; for gmail.com / googlemail.com also remove the periods before `@`.
- Phone: E.164 *with* the `+` (`+66812345678`).
- First Name / Last Name: trim, lower-case.
- Country and Zip are uploaded unhashed (ISO alpha-2 upper-case, postal code as is).
Every hashed value is the lower-case hex SHA-256 of the UTF-8 bytes of the normalised value.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from sources.normalise import parse_phone

_NON_DIGIT = re.compile(r"\D+")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def e164(phone: str | None, default_region: str = "TH") -> str | None:
    """E.164 (`+66812345678`) or None if the number is not valid (sources.normalise.parse_phone,
    the rule ingestion and SMS use, so every number that gets an SMS is matchable too)."""
    return parse_phone(phone, default_region).e164


def _strip_punct(s: str) -> str:
    return "".join(c for c in s if not unicodedata.category(c).startswith("P"))


# ---------------------------------------------------------------- Meta
def meta_email(email: str | None) -> str | None:
    v = (email or "").strip().lower()
    return v or None


def meta_phone(phone: str | None, default_region: str = "TH") -> str | None:
    v = e164(phone, default_region)
    return _NON_DIGIT.sub("", v) if v else None


def meta_name(name: str | None) -> str | None:
    v = _strip_punct(unicodedata.normalize("NFC", (name or "")).strip().lower()).strip()
    return v or None


def meta_country(country: str | None) -> str | None:
    v = (country or "").strip().lower()
    return v if re.fullmatch(r"[a-z]{2}", v) else None


def meta_zip(zip_code: str | None) -> str | None:
    v = re.sub(r"[\s-]+", "", (zip_code or "").strip().lower())
    return v or None


META_SCHEMA = ("EMAIL", "PHONE", "FN", "LN", "ZIP", "COUNTRY")


def meta_row(fields: dict, default_country: str = "TH") -> list[str] | None:
    """Hashed values in META_SCHEMA order ('' for unknown), None when nothing matchable."""
    values = [
        meta_email(fields.get("email")),
        meta_phone(fields.get("phone"), (fields.get("country") or default_country).upper()),
        meta_name(fields.get("first_name")),
        meta_name(fields.get("last_name")),
        meta_zip(fields.get("postal_code")),
        meta_country(fields.get("country") or default_country),
    ]
    if values[0] is None and values[1] is None:
        return None
    return [sha256_hex(v) if v else "" for v in values]


# ---------------------------------------------------------------- Google
def google_email(email: str | None) -> str | None:
    v = (email or "").strip().lower()
    if not v or "@" not in v:
        return None
    local, _, domain = v.rpartition("@")
    if domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
    return f"{local}@{domain}"


def google_phone(phone: str | None, default_region: str = "TH") -> str | None:
    return e164(phone, default_region)


def google_name(name: str | None) -> str | None:
    v = unicodedata.normalize("NFC", (name or "")).strip().lower()
    return v or None
