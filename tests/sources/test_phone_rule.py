"""One Thai phone rule (sources.normalise.parse_phone), and every caller agrees with it."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from activations.audiences.suppression import classify_mobile
from activations.channels.hashing import e164, google_phone, meta_phone
from sources.normalise import norm_phone, parse_phone
from sources.quality.suites import TH_MOBILE_REGEX

# (delivered, E.164, kind) as docs/DOMAIN.md describes Thai numbers
CASES = [
    ("081-234-5678", "+66812345678", "mobile"),
    ("0812345678", "+66812345678", "mobile"),
    ("+66 81 234 5678", "+66812345678", "mobile"),
    ("66812345678", "+66812345678", "mobile"),
    ("812345678", "+66812345678", "mobile"),
    ("+66 (0)81 234 5678", "+66812345678", "mobile"),
    ("069-893-2658", "+66698932658", "mobile"),  # a new block phonenumbers' tables reject
    ("+66 69 893 2658", "+66698932658", "mobile"),
    ("tel: 069-893-2658", "+66698932658", "mobile"),
    ("0612345678", "+66612345678", "mobile"),
    ("0912345678", "+66912345678", "mobile"),
    ("02-026-1456", "+6620261456", "landline"),
    ("053-123-456", "+6653123456", "landline"),
    ("0212345678", None, "invalid"),
    ("12345", None, "invalid"),
    ("not a number", None, "invalid"),
    (None, None, "missing"),
    ("  ", None, "missing"),
]


@pytest.mark.parametrize(("raw", "expected", "kind"), CASES)
def test_parse_phone_is_the_domain_rule(raw, expected, kind):
    p = parse_phone(raw)
    assert (p.e164, p.kind) == (expected, kind)


@pytest.mark.parametrize(("raw", "expected", "kind"), CASES)
def test_ingestion_normaliser_follows_the_rule(raw, expected, kind):
    r = norm_phone(pa.array([raw], pa.string()))
    assert r.values.to_pylist() == [expected]
    assert r.extra["_is_mobile"].to_pylist() == [None if expected is None else kind == "mobile"]


@pytest.mark.parametrize(("raw", "expected", "kind"), CASES)
def test_suppression_follows_the_rule(raw, expected, kind):
    assert classify_mobile(raw) == kind


@pytest.mark.parametrize(("raw", "expected", "kind"), CASES)
def test_ad_hashing_matches_every_number_the_rule_accepts(raw, expected, kind):
    # a customer who gets SMS must also be matchable on Meta and Google
    assert e164(raw) == expected
    assert google_phone(raw) == expected
    assert meta_phone(raw) == (expected.lstrip("+") if expected else None)


@pytest.mark.parametrize(("raw", "expected", "kind"), [c for c in CASES if c[1] and c[1].startswith("+66")])
def test_quality_suite_regex_agrees_on_normalised_thai_numbers(raw, expected, kind):
    assert bool(re.match(TH_MOBILE_REGEX, expected)) == (kind == "mobile")


def test_the_vectorised_shortcut_is_the_rule_on_every_shape():
    import random

    rnd = random.Random(7)
    shapes = ["0{}", "+66{}", "66{}", "{}", "+66 {}", "0{}x", "+44{}", "0-{}", "+66(0){}", "0{}.", "(0){}"]

    def number() -> str:
        digits = rnd.choice("0123456789") + f"{rnd.randrange(10**8):08d}"
        cut = rnd.randrange(1, 8)  # separators as people type them
        return digits[:cut] + rnd.choice(["", " ", "-", ".", ") ", " - "]) + digits[cut:]

    values = [rnd.choice(shapes).format(number()) for _ in range(3000)]
    values += [c[0] for c in CASES]
    r = norm_phone(pa.array(values, pa.string()))
    expected = [parse_phone(v) for v in values]
    assert r.values.to_pylist() == [p.e164 for p in expected]
    assert r.extra["_is_mobile"].to_pylist() == [p.is_mobile for p in expected]


@pytest.mark.parametrize(("raw", "expected", "kind"), [c for c in CASES if c[0] and c[0].strip()])
def test_the_webhook_receiver_reads_numbers_by_the_same_rule(raw, expected, kind):
    from sources.webhooks.events import normalise_e164

    assert normalise_e164(raw) == expected
