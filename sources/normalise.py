"""Vectorised normalisers: pyarrow string arrays in, typed arrays out.

Every normaliser takes a `pa.Array` of strings (nulls allowed, values as delivered) and returns a
`Normalised(values, invalid, extra)`: `values` typed for the lake, `invalid` a boolean array that is
true where a value was present but could not be parsed (its `values` entry is then null), and
`extra` derived columns keyed by suffix (`_raw`, `_is_mobile`, `_valid`).

Expensive work runs on DISTINCT values only (`pc.dictionary_encode`, then `take` back). Phone
numbers follow one rule, `parse_phone` (phonenumbers plus the business's Thai rule), which the
rest of crmloop imports too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneMetadata, PhoneNumberType

STRING = pa.string()


@dataclass
class Normalised:
    values: pa.Array
    invalid: pa.Array  # bool, no nulls
    extra: dict[str, pa.Array] = field(default_factory=dict)


def _as_string(arr: pa.Array) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != STRING:
        arr = arr.cast(STRING)
    return arr


def clean(arr: pa.Array) -> pa.Array:
    """Trim surrounding whitespace (incl. NBSP); empty strings become null."""
    arr = _as_string(arr)
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, STRING), arr)


def _false(n: int) -> pa.Array:
    return pa.array(np.zeros(n, dtype=bool))


def _fill_false(mask: pa.Array) -> pa.Array:
    return pc.fill_null(mask, False)


def map_distinct(arr: pa.Array, fn, out_type: pa.DataType = STRING) -> pa.Array:
    """Apply a Python function to each distinct non-null value of `arr`, map the results back."""
    if len(arr) == 0:
        return pa.array([], out_type)
    enc = pc.dictionary_encode(arr)
    uniques = enc.dictionary.to_pylist()
    mapped = pa.array([fn(v) for v in uniques], out_type)
    return pc.take(mapped, enc.indices)


def _distinct(arr: pa.Array):
    """(uniques, indices) so that `pc.take(f(uniques), indices)` == f(arr)."""
    enc = pc.dictionary_encode(arr)
    return enc.dictionary, enc.indices


def nfc(arr: pa.Array) -> pa.Array:
    """NFC-normalise non-ASCII values (ASCII is already NFC)."""
    if len(arr) == 0 or arr.null_count == len(arr):
        return arr
    if pc.all(pc.fill_null(pc.string_is_ascii(arr), True)).as_py():
        return arr
    return map_distinct(arr, lambda v: None if v is None else unicodedata.normalize("NFC", v))


# ---------------------------------------------------------------------------------------- strings
def norm_id(arr: pa.Array) -> Normalised:
    """Identifiers: trimmed, NFC, kept as strings exactly (`0012` stays `0012`)."""
    v = nfc(clean(arr))
    return Normalised(v, _false(len(v)))


def norm_text(arr: pa.Array) -> Normalised:
    """Free text: trimmed, inner whitespace runs collapsed to one space, NFC."""
    v = clean(arr)
    v = pc.replace_substring_regex(v, r"\s+", " ")
    return Normalised(nfc(v), _false(len(v)))


def norm_upper(arr: pa.Array) -> Normalised:
    v = pc.utf8_upper(nfc(clean(arr)))
    return Normalised(v, _false(len(v)))


def norm_lower(arr: pa.Array) -> Normalised:
    v = pc.utf8_lower(nfc(clean(arr)))
    return Normalised(v, _false(len(v)))


EMAIL_RE = (
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$"
)


def norm_email(arr: pa.Array) -> Normalised:
    """Trimmed, `mailto:` dropped, lower-cased; `_valid` is a syntax check (null when no email).

    An email that fails the check is kept (flagged invalid in `<col>_valid`), never quarantined."""
    v = clean(arr)
    v = pc.utf8_lower(pc.replace_substring_regex(v, r"^(?i:mailto:)", ""))
    v = pc.if_else(pc.equal(v, ""), pa.scalar(None, STRING), v)
    valid = pc.match_substring_regex(v, EMAIL_RE)
    return Normalised(v, _fill_false(pc.invert(valid)), {"_valid": valid})


def norm_enum(arr: pa.Array, mapping: dict[str, str | None]) -> Normalised:
    """Map delivered words onto canonical values. `mapping` keys are matched after trim, NFC and
    case-folding (see `enum_key`); a key mapped to None means 'known, but no value' (null).
    A present value that is not a key is invalid."""
    v = nfc(clean(arr))
    if len(v) == 0:
        return Normalised(pa.array([], STRING), _false(0))
    uniques, idx = _distinct(v)
    out, bad = [], []
    for u in uniques.to_pylist():
        key = enum_key(u)
        if key in mapping:
            out.append(mapping[key])
            bad.append(False)
        else:
            out.append(None)
            bad.append(True)
    values = pc.take(pa.array(out, STRING), idx)
    invalid = _fill_false(pc.take(pa.array(bad, pa.bool_()), idx))
    return Normalised(values, invalid)


def enum_key(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", str(value)).casefold().split())


# ---------------------------------------------------------------------------------------- numbers
_NUM_RE = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$"
# thousands commas only in groups of three: `1,234.50` yes, `1,5` and `1.234,50` no (not guessed)
_GROUPED_RE = r"^[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)$"
_CURRENCY_RE = r"(?i)(?:thb|baht|บาท|฿|\$|\s|_|')"


def _numeric_strings(v: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(numeric string or null, invalid mask) after dropping currency signs and separators."""
    s = pc.replace_substring_regex(v, _CURRENCY_RE, "")
    # accounting negatives: (1,234.50)
    neg = pc.fill_null(pc.match_substring_regex(s, r"^\(.*\)$"), False)
    s = pc.if_else(neg, pc.binary_join_element_wise("-", pc.replace_substring_regex(s, r"[()]", ""), ""), s)
    ok = pc.match_substring_regex(s, _GROUPED_RE)
    s = pc.replace_substring(s, ",", "")
    present = pc.is_valid(v)
    invalid = pc.and_(present, pc.invert(pc.fill_null(ok, False)))
    s = pc.if_else(pc.fill_null(ok, False), s, pa.scalar(None, STRING))
    return s, invalid


def norm_amount(arr: pa.Array) -> Normalised:
    """`1,234.50`, `฿1,234`, `THB 1,234`, `1 234 บาท`, `(50.00)` → float64."""
    v = clean(arr)
    n = len(v)
    if n == 0:
        return Normalised(pa.array([], pa.float64()), _false(0))
    # fast path: plain numbers, thousands commas and a leading baht sign (literal replaces, no regex)
    s = pc.replace_substring(v, "฿", "")
    plain = pc.fill_null(pc.match_substring_regex(s, _GROUPED_RE), False)
    s = pc.replace_substring(s, ",", "")
    vals = pc.cast(pc.if_else(plain, s, pa.scalar(None, STRING)), pa.float64())
    left = pc.and_(pc.is_valid(v), pc.invert(plain))
    invalid = _false(n)
    if pc.any(left).as_py():
        uniques, idx = _distinct(pc.filter(v, left))
        s2, bad = _numeric_strings(uniques)
        vals = pc.replace_with_mask(vals, left, pc.take(pc.cast(s2, pa.float64()), idx))
        invalid = pc.replace_with_mask(invalid, left, _fill_false(pc.take(bad, idx)))
    return Normalised(vals, invalid)


def norm_int(arr: pa.Array) -> Normalised:
    """Integers, with separators allowed; `2.0` is 2, `2.5` is invalid."""
    v = clean(arr)
    if len(v) == 0:
        return Normalised(pa.array([], pa.int64()), _false(0))
    uniques, idx = _distinct(v)
    s, invalid = _numeric_strings(uniques)
    f = pc.cast(s, pa.float64())
    integral = pc.fill_null(pc.equal(pc.floor(f), f), True)
    in_range = pc.fill_null(pc.less(pc.abs(f), 2.0**53), True)
    good = pc.and_(integral, in_range)
    invalid = pc.or_(invalid, pc.invert(good))
    vals = pc.cast(pc.if_else(good, f, pa.scalar(None, pa.float64())), pa.int64())
    return Normalised(pc.take(vals, idx), _fill_false(pc.take(invalid, idx)))


_TRUE = {"true", "t", "yes", "y", "1", "ใช่", "x", "✓"}
_FALSE = {"false", "f", "no", "n", "0", "ไม่", "ไม่ใช่"}


def norm_bool(arr: pa.Array) -> Normalised:
    mapping: dict[str, str | None] = {k: "1" for k in _TRUE} | {k: "0" for k in _FALSE}
    n = norm_enum(arr, mapping)
    return Normalised(pc.equal(n.values, "1"), n.invalid)


# ---------------------------------------------------------------------------------- dates & times
_TIME = r"(?:[T ,]+(?P<H>\d{1,2})[:.](?P<M>\d{2})(?:[:.](?P<S>\d{2})(?:[.,](?P<F>\d{1,9}))?)?)?"
_TZ = r"\s*(?P<Z>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
_ISO_RE = r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})" + _TIME + _TZ + "$"
_DMY_RE = r"^(?P<d>\d{1,2})[-/.](?P<m>\d{1,2})[-/.](?P<y>\d{4})" + _TIME + _TZ + "$"
_COMPACT_RE = r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"
_SERIAL_RE = r"^\d{1,5}(?:\.\d+)?$"
BANGKOK_OFFSET_MIN = 7 * 60
_US_PER_DAY = 86_400_000_000
_EXCEL_EPOCH_DAYS = (np.datetime64("1899-12-30") - np.datetime64("1970-01-01")).astype(np.int64)


def _field(struct: pa.Array, name: str) -> np.ndarray:
    """An int64 numpy array of a regex group; -1 where missing."""
    col = pc.struct_field(struct, name)
    col = pc.if_else(pc.equal(col, ""), pa.scalar(None, STRING), col)
    if name == "F":
        col = pc.utf8_slice_codeunits(pc.utf8_rpad(col, 6, "0"), 0, 6)
    return pc.fill_null(pc.cast(col, pa.int64()), -1).to_numpy(zero_copy_only=False)


def _tz_minutes(struct: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(has offset, offset minutes east of UTC)."""
    zc = pc.struct_field(struct, "Z")
    has = np.zeros(len(zc), dtype=bool)
    off = np.zeros(len(zc), dtype=np.int64)
    if not pc.any(pc.not_equal(zc, "")).as_py():
        return has, off
    z = zc.to_pylist()
    for i, t in enumerate(z):
        if not t:
            continue
        has[i] = True
        if t in ("Z", "UTC", "GMT"):
            continue
        sign = -1 if t[0] == "-" else 1
        digits = t[1:].replace(":", "")
        hh = int(digits[:2])
        mm = int(digits[2:4]) if len(digits) >= 4 else 0
        off[i] = sign * (hh * 60 + mm)
    return has, off


def parse_timestamps(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse distinct strings → (microseconds since epoch as Bangkok wall-clock, ok mask, has_time).

    Accepts ISO (`2025-01-31`, `2025-01-31T14:05:00+07:00`, `2025/01/31 14:05`), DD/MM/YYYY
    (with `/`, `-` or `.`, optional time), `YYYYMMDD`, and Excel serial numbers (days since
    1899-12-30, fraction = time of day). Years above 2400 are Buddhist Era (BE − 543 = CE).
    An explicit UTC offset is converted to Bangkok wall-clock; no offset means Bangkok already."""
    n = len(arr)
    y = np.full(n, -1, np.int64)
    m = y.copy()
    d = y.copy()
    hh, mi, ss, fr = y.copy(), y.copy(), y.copy(), y.copy()
    has_tz = np.zeros(n, bool)
    tz_off = np.zeros(n, np.int64)
    matched = np.zeros(n, bool)
    for rx in (_ISO_RE, _DMY_RE):
        st = pc.extract_regex(arr, rx)
        ok = pc.fill_null(pc.is_valid(st), False).to_numpy(zero_copy_only=False) & ~matched
        if not ok.any():
            continue
        st = st.filter(pa.array(ok)) if not ok.all() else st
        pos = np.nonzero(ok)[0]
        y[pos], m[pos], d[pos] = _field(st, "y"), _field(st, "m"), _field(st, "d")
        hh[pos], mi[pos], ss[pos], fr[pos] = (
            _field(st, "H"),
            _field(st, "M"),
            _field(st, "S"),
            _field(st, "F"),
        )
        h, o = _tz_minutes(st)
        has_tz[pos], tz_off[pos] = h, o
        matched |= ok
    st = pc.extract_regex(arr, _COMPACT_RE)
    ok = pc.fill_null(pc.is_valid(st), False).to_numpy(zero_copy_only=False) & ~matched
    if ok.any():
        pos = np.nonzero(ok)[0]
        st = st.filter(pa.array(ok))
        y[pos], m[pos], d[pos] = _field(st, "y"), _field(st, "m"), _field(st, "d")
        matched |= ok

    has_time = hh >= 0
    be = y >= 2400
    y = np.where(be, y - 543, y)
    hh2, mi2, ss2, fr2 = (np.where(a < 0, 0, a) for a in (hh, mi, ss, fr))
    ok = matched & (y >= 1) & (y <= 9999) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31)
    ok &= (hh2 < 24) & (mi2 < 60) & (ss2 < 60)
    ys, ms, ds = np.where(ok, y, 1970), np.where(ok, m, 1), np.where(ok, d, 1)
    month_start = (ys - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (ms - 1)
    days = month_start.astype("datetime64[D]") + (ds - 1)
    ok &= days.astype("datetime64[M]") == month_start  # rejects 31/02
    us = days.astype(np.int64) * _US_PER_DAY + ((hh2 * 60 + mi2) * 60 + ss2) * 1_000_000 + fr2
    us = np.where(has_tz, us + (BANGKOK_OFFSET_MIN - tz_off) * 60_000_000, us)

    # Excel serials, only for values no other pattern took
    ser_mask = pc.fill_null(pc.match_substring_regex(arr, _SERIAL_RE), False).to_numpy(zero_copy_only=False)
    ser_mask &= ~matched
    if ser_mask.any():
        pos = np.nonzero(ser_mask)[0]
        vals = pc.cast(arr.filter(pa.array(ser_mask)), pa.float64()).to_numpy(zero_copy_only=False)
        good = (vals >= 1) & (vals < 2958466)
        sus = np.round((vals + _EXCEL_EPOCH_DAYS) * _US_PER_DAY / 1_000_000).astype(np.int64) * 1_000_000
        us[pos] = np.where(good, sus, 0)
        ok[pos] = good
        has_time[pos] = vals != np.floor(vals)
    return np.where(ok, us, 0), ok, has_time


_FAST_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%Y-%m-%d %H:%M")
_DMY_FAST_RE = r"^\d{2}/\d{2}/\d{4}(?: \d{2}:\d{2}(?::\d{2})?)?$"


def _dmy_to_iso(v: pa.Array) -> pa.Array:
    """`31/01/2568 14:05` → `2025-01-31 14:05` (BE years converted) for zero-padded DD/MM/YYYY values;
    other values unchanged. Lets the common Thai form take Arrow's strptime fast path."""
    shaped = pc.fill_null(pc.match_substring_regex(v, _DMY_FAST_RE), False)
    if not pc.any(shaped).as_py():
        return v
    y = pc.cast(pc.if_else(shaped, pc.utf8_slice_codeunits(v, 6, 10), pa.scalar(None, STRING)), pa.int64())
    y = pc.if_else(pc.greater_equal(y, 2400), pc.subtract(y, 543), y)
    iso = pc.binary_join_element_wise(
        pc.utf8_lpad(pc.cast(y, STRING), 4, "0"),
        "-",
        pc.utf8_slice_codeunits(v, 3, 5),
        "-",
        pc.utf8_slice_codeunits(v, 0, 2),
        pc.utf8_slice_codeunits(v, 10, 100),
        "",
    )
    return pc.if_else(shaped, iso, v)


def _parse_column(arr: pa.Array, unit: str) -> Normalised:
    """Fast path: Arrow's strptime for plain ISO values (CE years); everything else (BE years,
    DD/MM/YYYY, offsets, fractions, serials) through `parse_timestamps` on distinct values."""
    out_type = pa.timestamp("us") if unit == "ts" else pa.date32()
    v = clean(arr)
    n = len(v)
    if n == 0:
        return Normalised(pa.array([], out_type), _false(0))
    ts = pa.nulls(n, pa.timestamp("us"))
    iso = _dmy_to_iso(v)
    for fmt in _FAST_FORMATS:
        todo = pc.and_(pc.is_valid(v), pc.is_null(ts))
        if not pc.any(todo).as_py():
            break
        parsed = pc.strptime(iso, format=fmt, unit="us", error_is_null=True)
        # strptime rolls 2025-02-30 over to March: keep only values whose day survived, and CE years
        shaped = pc.fill_null(pc.match_substring_regex(iso, r"^\d{4}-\d{2}-\d{2}"), False)
        dd = pc.cast(
            pc.if_else(shaped, pc.utf8_slice_codeunits(iso, 8, 10), pa.scalar(None, STRING)), pa.int64()
        )
        keep = pc.and_(pc.less(pc.year(parsed), 2400), pc.equal(pc.day(parsed), dd))
        parsed = pc.if_else(pc.fill_null(keep, False), parsed, pa.scalar(None, ts.type))
        ts = pc.coalesce(ts, parsed)
    left = pc.and_(pc.is_valid(v), pc.is_null(ts))
    invalid = _false(n)
    if pc.any(left).as_py():
        pos = pc.indices_nonzero(left)
        uniques, idx = _distinct(pc.take(v, pos))
        us, ok, _ = parse_timestamps(uniques)
        vals = pc.take(pa.array(us, pa.timestamp("us"), mask=~ok), idx)
        bad = pc.take(pa.array(~ok), idx)
        ts = pc.replace_with_mask(ts, left, vals) if len(vals) else ts
        invalid = pc.replace_with_mask(invalid, left, bad)
    if unit == "date":
        ts = pc.cast(pc.floor_temporal(ts, unit="day"), pa.date32()) if n else ts
    return Normalised(ts, invalid)


def norm_timestamp(arr: pa.Array) -> Normalised:
    """Naive Asia/Bangkok wall-clock `timestamp[us]` (see `parse_timestamps` for accepted forms)."""
    return _parse_column(arr, "ts")


def norm_date(arr: pa.Array) -> Normalised:
    """`date32` from the same forms as `norm_timestamp` (a time part, if any, is dropped)."""
    return _parse_column(arr, "date")


# ------------------------------------------------------------------------------------------ phones
# THE phone rule of crmloop (ingestion, suppression, ad hashing and the quality suites import it).
# phonenumbers parses every shape and knows every country; for Thailand the business's own rule
# (docs/DOMAIN.md) is applied on top of its allocation tables, which reject new blocks such as 069x:
# a 9-digit national number starting 6/8/9 (written 06x/08x/09x) is a mobile, 2 + 7 digits or
# 3x/4x/5x/7x + 6 digits a landline.
_BUSINESS_RULES = {"TH": (r"[689]\d{8}", r"(?:2|[3-57]\d)\d{6}")}
_BUSINESS_RE = {r: (re.compile(m), re.compile(f)) for r, (m, f) in _BUSINESS_RULES.items()}
PHONE_KINDS = ("mobile", "landline", "other", "invalid", "missing")


@dataclass(frozen=True)
class Phone:
    e164: str | None  # None unless the number is valid
    kind: str  # one of PHONE_KINDS; "other" = valid but neither (toll-free, VoIP, ...)

    @property
    def is_mobile(self) -> bool | None:
        """True for a number that can receive SMS, False for another valid number, None if invalid."""
        return None if self.e164 is None else self.kind == "mobile"


def parse_phone(raw: str | None, region: str = "TH") -> Phone:
    """One phone number: E.164 and its kind, with `region` for numbers without a country code.

    `081-234-5678`, `0812345678`, `+66 81 234 5678`, `66812345678`, `+66 (0)81 234 5678` and
    `812345678` (Excel dropped the 0) are all `+66812345678`, a mobile; `069-893-2658` is a
    mobile by the business rule; `02-026-1456` is `+6620261456`, a landline. About 30 µs a call:
    vectorised callers pass distinct values only (see `norm_phone`)."""
    if raw is None or (isinstance(raw, float) and raw != raw):
        return Phone(None, "missing")
    text = str(raw).strip()
    if not text:
        return Phone(None, "missing")
    if PhoneMetadata.metadata_for_region(region) is None:
        raise ValueError(f"unknown phone region {region!r}")
    try:
        p = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return Phone(None, "invalid")
    e164 = phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164)
    rules = _BUSINESS_RE.get(phonenumbers.region_code_for_country_code(p.country_code))
    if rules is not None:
        nsn = phonenumbers.national_significant_number(p)
        if rules[0].fullmatch(nsn):
            return Phone(e164, "mobile")
        if rules[1].fullmatch(nsn):
            return Phone(e164, "landline")
    if not phonenumbers.is_valid_number(p):
        return Phone(None, "invalid")
    t = phonenumbers.number_type(p)
    if t in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return Phone(e164, "mobile")
    if t == PhoneNumberType.FIXED_LINE:
        return Phone(e164, "landline")
    return Phone(e164, "other")


def mobile_e164_regex(region: str = "TH") -> str:
    """A regex matching exactly the E.164 numbers of `region` that `parse_phone` calls mobile
    (for checks that run on already normalised values, e.g. the GX suites)."""
    md = PhoneMetadata.metadata_for_region(region)
    if md is None:
        raise ValueError(f"unknown phone region {region!r}")
    alternatives = [md.mobile.national_number_pattern]
    if region in _BUSINESS_RULES:
        alternatives.append(_BUSINESS_RULES[region][0])
    return rf"^\+{md.country_code}(?:{'|'.join(alternatives)})$"


TH_MOBILE_E164_REGEX = mobile_e164_regex("TH")


def norm_phone(arr: pa.Array, region: str = "TH") -> Normalised:
    """E.164 with default `region`; `_is_mobile` true for numbers that can receive SMS.

    Each distinct value goes through `parse_phone` once (Thai mobiles in their usual shapes, the
    bulk of real extracts, in Arrow: see the shortcut below). Unparseable → null, with the delivered
    text kept in `_raw` (the row is still loaded unless the declaration says otherwise)."""
    raw = clean(arr)
    if len(raw) == 0:
        e = pa.array([], STRING)
        return Normalised(e, _false(0), {"_raw": e, "_is_mobile": pa.array([], pa.bool_())})
    uniques, idx = _distinct(raw)
    e164 = pa.nulls(len(uniques), STRING)
    mobile = pa.nulls(len(uniques), pa.bool_())
    todo = pc.is_valid(uniques)
    if region in _BUSINESS_RULES:
        # shortcut, not a second rule: `0<mobile>`, `+<cc><mobile>`, `<cc><mobile>` or a bare
        # `<mobile>` (Excel dropped the 0), in digits with spaces, dashes, dots or brackets only
        # (phonenumbers drops those too), is exactly parse_phone's first branch (the business's
        # mobile pattern), so Arrow does it in bulk; test_phone_rule checks it on every shape
        cc = str(PhoneMetadata.metadata_for_region(region).country_code)
        bare = pc.replace_substring_regex(uniques, r"[\s\-.()]", "")
        nsn = pc.extract_regex(bare, rf"^(?:0|\+?{cc})?(?P<nsn>{_BUSINESS_RULES[region][0]})$")
        hit = pc.fill_null(pc.is_valid(nsn), False)
        e164 = pc.if_else(hit, pc.binary_join_element_wise(f"+{cc}", pc.struct_field(nsn, "nsn"), ""), e164)
        mobile = pc.if_else(hit, True, mobile)
        todo = pc.and_(todo, pc.invert(hit))
    rest = pc.indices_nonzero(todo)
    if len(rest):
        parsed = [parse_phone(u, region) for u in pc.take(uniques, rest).to_pylist()]
        mask = pc.fill_null(todo, False)
        e164 = pc.replace_with_mask(e164, mask, pa.array([p.e164 for p in parsed], STRING))
        mobile = pc.replace_with_mask(mobile, mask, pa.array([p.is_mobile for p in parsed], pa.bool_()))
    values = pc.take(e164, idx)
    mobile = pc.take(mobile, idx)
    invalid = pc.and_(pc.is_valid(raw), pc.is_null(values))
    return Normalised(values, invalid, {"_raw": raw, "_is_mobile": mobile})


# ------------------------------------------------------------------------------------------ registry
NORMALISERS = {
    "id": pa.string(),
    "text": pa.string(),
    "upper": pa.string(),
    "lower": pa.string(),
    "email": pa.string(),
    "phone": pa.string(),
    "enum": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "amount": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
}


def normalise(kind: str, arr: pa.Array, *, mapping: dict | None = None, region: str = "TH") -> Normalised:
    """Dispatch by normaliser name (see NORMALISERS)."""
    if kind == "phone":
        return norm_phone(arr, region)
    if kind == "enum":
        return norm_enum(arr, mapping or {})
    if kind not in _PLAIN:
        raise ValueError(f"unknown normaliser {kind!r}")
    return _PLAIN[kind](arr)


# the normalisers that take the column alone (phone and enum take their region / mapping)
_PLAIN = {
    "id": norm_id,
    "text": norm_text,
    "upper": norm_upper,
    "lower": norm_lower,
    "email": norm_email,
    "date": norm_date,
    "timestamp": norm_timestamp,
    "amount": norm_amount,
    "int": norm_int,
    "bool": norm_bool,
}
