"""Ad-platform normalisation and hashing against known vectors (SMS segments: tests/activations/test_content.py)."""

from __future__ import annotations

import csv
import hashlib
from types import SimpleNamespace

from activations.channels.google_ads import HEADERS, customer_match_row, write_customer_match
from activations.channels.hashing import META_SCHEMA, google_email, meta_phone, meta_row, sha256_hex


def h(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def test_literal_sha256_vector():
    # SHA-256("test@example.com"), the normalised form of " Test@Example.COM "
    assert (
        sha256_hex("test@example.com") == "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
    )
    row = meta_row({"email": " Test@Example.COM "})
    assert row[0] == "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"


def test_meta_normalisation_by_hand():
    fields = {
        "email": "  Somchai.J@Mail.CO.TH ",
        "phone": "081-234-5678",
        "first_name": " Somchai. ",
        "last_name": "Jai-dee",
        "postal_code": "10 110",
        "country": "TH",
    }
    row = meta_row(fields)
    assert list(META_SCHEMA) == ["EMAIL", "PHONE", "FN", "LN", "ZIP", "COUNTRY"]
    assert row == [
        h("somchai.j@mail.co.th"),
        h("66812345678"),
        h("somchai"),
        h("jaidee"),
        h("10110"),
        h("th"),
    ]


def test_meta_phone_forms_agree_and_thai_names_survive():
    forms = ["081-234-5678", "0812345678", "+66 81 234 5678", "66812345678"]
    assert {meta_phone(p) for p in forms} == {"66812345678"}
    row = meta_row({"email": "a@b.co", "first_name": "สมชาย", "last_name": "ใจดี"})
    assert row[2] == h("สมชาย") and row[3] == h("ใจดี")
    assert meta_row({"first_name": "x"}) is None  # no email, no phone: unmatchable


def test_google_customer_match_rules_and_template(tmp_path):
    assert google_email(" John.Smith@Gmail.com ") == "johnsmith@gmail.com"
    assert google_email("John.Smith@example.com") == "john.smith@example.com"
    row = customer_match_row(
        {
            "email": "John.Smith@Gmail.com",
            "phone": "081-234-5678",
            "first_name": " John ",
            "last_name": "SMITH",
            "postal_code": "10110",
            "country": "th",
        }
    )
    assert row == [h("johnsmith@gmail.com"), h("+66812345678"), h("john"), h("smith"), "TH", "10110"]
    msgs = [
        SimpleNamespace(to="a@b.co", fields={"email": "a@b.co"}),
        SimpleNamespace(to="a@b.co", fields={"email": "A@b.co "}),  # same person twice → one row
        SimpleNamespace(to="", fields={"first_name": "x"}),
    ]  # unmatchable
    out = write_customer_match(msgs, tmp_path / "cm.csv")
    with open(out.path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == HEADERS == ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")
    assert rows[1] == [h("a@b.co"), "", "", "", "", ""]
    assert out.rows == 1 and out.skipped_unmatchable == 1
