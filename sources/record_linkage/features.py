"""The columns the matcher compares, prepared from customer records (lake columns of
sources.schema, entity customers).

Names meet across scripts: a Thai name is romanised with pythainlp's Royal Thai General System
(RTGS, engine `royin`, rule-based and offline), a Latin one lower-cased, and both are folded by
`phonetic_key` so the spellings people choose for themselves ("Jaidee", "Somchay") meet the
RTGS form ("chaidi", "somchai").
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pandas as pd

# every column the configuration may compare or block on (sources/record_linkage/matching.yml)
PREPARED_COLUMNS = (
    "first_key",
    "last_key",
    "full_key",
    "first_text",
    "last_text",
    "birth_date",
    "postal_code",
    "district",
    "province",
    "address_key",
)
# the record columns prepare() reads (customers' lake columns)
RECORD_COLUMNS = (
    "source_system",
    "source_customer_id",
    "first_name",
    "last_name",
    "birth_date",
    "postal_code",
    "district",
    "province",
    "address",
)
UNIQUE_ID = "unique_id"

_THAI = re.compile(r"[\u0E00-\u0E7F]")
# Variant spellings of the same Thai sounds in self-chosen Latin names, folded to one form. No
# maintained library does this (pythainlp romanises Thai script; it does not read Latin back),
# so the few rules live here: longest pattern first, applied left to right.
_FOLDS = (
    ("tch", "ch"),
    ("ph", "p"),
    ("th", "t"),
    ("kh", "k"),
    ("j", "ch"),
    ("ee", "i"),
    ("ie", "i"),
    ("y", "i"),
    ("oo", "u"),
    ("ou", "u"),
    ("w", "o"),
    ("v", "o"),
    ("r", "l"),
    ("g", "k"),
)
_FOLD_RE = re.compile("|".join(re.escape(a) for a, _ in _FOLDS))
_FOLD_MAP = dict(_FOLDS)
# administrative prefixes written or not: เขต/แขวง/อำเภอ/ตำบล/จังหวัด and their abbreviations
_ADMIN_PREFIX = re.compile(r"^(?:เขต|แขวง|อำเภอ|ตำบล|จังหวัด|อ\.|ต\.|จ\.)\s*")


@lru_cache(maxsize=200_000)
def romanise(text: str) -> str:
    """Thai script to RTGS (pythainlp `royin`); other text unchanged. Cached: names repeat."""
    if not _THAI.search(text):
        return text
    from pythainlp.transliterate import romanize

    return " ".join(romanize(word, engine="royin") for word in text.split())


def phonetic_key(name) -> str | None:
    """A name in any script as lower-case Latin letters, romanised and folded; None when empty."""
    return _phonetic_key(_text(name))


@lru_cache(maxsize=200_000)
def _phonetic_key(s: str | None) -> str | None:
    if s is None:
        return None
    s = unicodedata.normalize("NFKD", romanise(s).casefold())
    s = "".join(ch for ch in s if "a" <= ch <= "z")
    s = _FOLD_RE.sub(lambda m: _FOLD_MAP[m.group(0)], s)
    s = re.sub(r"(.)\1+", r"\1", s)  # doubled letters: "Somchaii", "Kitti"
    return s or None


def _text(v) -> str | None:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return None
    s = re.sub(r"\s+", " ", unicodedata.normalize("NFC", str(v))).strip()
    return s or None


def name_text(v) -> str | None:
    """A name as written (any script), case-folded and without spaces or dots: for typos within
    one script, which romanisation can blow up (one Thai letter may change several Latin ones)."""
    s = _text(v)
    return re.sub(r"[\s.]", "", s.casefold()) or None if s else None


def place_key(v) -> str | None:
    """A district or province without its administrative prefix (`เขตบางรัก` = `บางรัก`)."""
    s = _text(v)
    return _ADMIN_PREFIX.sub("", s).strip() or None if s else None


def address_key(v) -> str | None:
    """An address lower-cased, with `ถ.`/`ถนน` and spacing made one form."""
    s = _text(v)
    if s is None:
        return None
    s = s.casefold().replace("ถนน", "ถ.").replace("ซอย", "ซ.").replace("หมู่ที่", "หมู่")
    return re.sub(r"\s*([./])\s*", r"\1", s)


def postal_key(v) -> str | None:
    s = re.sub(r"\D", "", str(v)) if _text(v) else ""
    return s if len(s) == 5 else None


def prepare(records: pd.DataFrame) -> pd.DataFrame:
    """The records with `unique_id` (`<source_system>:<source_customer_id>`) and PREPARED_COLUMNS,
    keeping the original names (shown in the links). Missing record columns are an error."""
    missing = [c for c in RECORD_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"records lack column(s) {', '.join(missing)} (needed: {', '.join(RECORD_COLUMNS)})")
    out = pd.DataFrame(
        {
            UNIQUE_ID: records["source_system"].astype(str) + ":" + records["source_customer_id"].astype(str),
            "source_system": records["source_system"].astype(str),
            "first_name": records["first_name"].map(_text),
            "last_name": records["last_name"].map(_text),
            "first_key": records["first_name"].map(phonetic_key),
            "last_key": records["last_name"].map(phonetic_key),
            "full_key": None,
            "first_text": records["first_name"].map(name_text),
            "last_text": records["last_name"].map(name_text),
            "birth_date": pd.to_datetime(records["birth_date"], errors="coerce").dt.date,
            "postal_code": records["postal_code"].map(postal_key),
            "district": records["district"].map(place_key),
            "province": records["province"].map(place_key),
            "address_key": records["address"].map(address_key),
        }
    )
    both = out["first_key"].notna() & out["last_key"].notna()
    out.loc[both, "full_key"] = out.loc[both, "first_key"] + " " + out.loc[both, "last_key"]
    dupes = out[UNIQUE_ID].duplicated()
    if dupes.any():
        raise ValueError(
            f"records repeat (source_system, source_customer_id): {out[UNIQUE_ID][dupes].iloc[0]}"
        )
    return out.astype(object).where(out.notna(), None)
