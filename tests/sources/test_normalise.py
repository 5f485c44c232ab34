from datetime import date, datetime

import phonenumbers
import pyarrow as pa
import pytest

from sources.normalise import (
    norm_amount,
    norm_bool,
    norm_date,
    norm_email,
    norm_enum,
    norm_id,
    norm_int,
    norm_phone,
    norm_text,
    norm_timestamp,
)


def arr(*values):
    return pa.array(list(values), pa.string())


def test_phone_thai_variants_to_e164_with_mobile_flag():
    r = norm_phone(
        arr(
            "081-234-5678",
            "0812345678",
            "+66 81 234 5678",
            "66812345678",
            "812345678",  # Excel dropped the leading zero
            "081 234 5678",
            "+66 (0)81 234 5678",
            "02-026-1456",
            "053-123-456",
            "0612345678",
            "0912345678",
        )
    )
    assert r.values.to_pylist() == [
        "+66812345678",
        "+66812345678",
        "+66812345678",
        "+66812345678",
        "+66812345678",
        "+66812345678",
        "+66812345678",
        "+6620261456",
        "+6653123456",
        "+66612345678",
        "+66912345678",
    ]
    assert r.extra["_is_mobile"].to_pylist() == [True] * 7 + [False, False, True, True]
    assert r.extra["_raw"].to_pylist()[0] == "081-234-5678"
    assert r.invalid.to_pylist() == [False] * 11


def test_phone_invalid_foreign_and_missing():
    r = norm_phone(arr("+1 650 253 0000", "12345", "not a phone", None, "   ", "+44 20 7946 0958"))
    assert r.values.to_pylist() == ["+16502530000", None, None, None, None, "+442079460958"]
    assert r.extra["_is_mobile"].to_pylist() == [True, None, None, None, None, False]
    assert r.invalid.to_pylist() == [False, True, True, False, False, False]
    assert r.extra["_raw"].to_pylist() == [
        "+1 650 253 0000",
        "12345",
        "not a phone",
        None,
        None,
        "+44 20 7946 0958",
    ]


@pytest.mark.parametrize(
    "raw",
    [
        "0812345678",
        "0898765432",
        "0623456789",
        "021234567",
        "034123456",
        "0441234567",
        "+66 2 026 1456",
        "011234567",
    ],
)
def test_phone_fast_path_agrees_with_phonenumbers(raw):
    r = norm_phone(arr(raw))
    try:
        p = phonenumbers.parse(raw, "TH")
        valid = phonenumbers.is_valid_number(p)
    except phonenumbers.NumberParseException:
        valid = False
    expected = phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164) if valid else None
    assert r.values.to_pylist() == [expected]
    if valid:
        is_mobile = phonenumbers.number_type(p) == phonenumbers.PhoneNumberType.MOBILE
        assert r.extra["_is_mobile"].to_pylist() == [is_mobile]


def test_dates_iso_dmy_buddhist_era_serial():
    r = norm_date(
        arr(
            "2025-01-31",
            "31/01/2025",
            "31/01/2568",  # Buddhist Era
            "2568-01-31",
            "31-01-2568",
            "31.01.2025",
            "45688",  # Excel serial for 2025-01-31
            "20250131",
            "2025-01-31 23:59:59",
            "1/2/2568",
        )
    )
    assert r.values.to_pylist() == [date(2025, 1, 31)] * 9 + [date(2025, 2, 1)]
    assert r.invalid.to_pylist() == [False] * 10


def test_dates_invalid_values_are_flagged_not_guessed():
    r = norm_date(arr("31/02/2025", "2025-02-30", "13/13/2025", "yesterday", "", None, "2025-13-01"))
    assert r.values.to_pylist() == [None] * 7
    assert r.invalid.to_pylist() == [True, True, True, True, False, False, True]


def test_timestamps_are_bangkok_wall_clock():
    r = norm_timestamp(
        arr(
            "2025-01-31 14:05:00",
            "2025-01-31T14:05:00",
            "2025-01-31T07:05:00Z",  # UTC -> +7h
            "2025-01-31T14:05:00+07:00",
            "2025-01-31 09:05:00-05:00",
            "31/01/2568 14:05",
            "31/01/2025 14:05:30",
            "45688.5",  # serial with half a day
            "2025-01-31 14:05:00.250",
            "2025-01-31",
        )
    )
    assert r.values.type == pa.timestamp("us")
    assert r.values.to_pylist() == [
        datetime(2025, 1, 31, 14, 5),
        datetime(2025, 1, 31, 14, 5),
        datetime(2025, 1, 31, 14, 5),
        datetime(2025, 1, 31, 14, 5),
        datetime(2025, 1, 31, 21, 5),
        datetime(2025, 1, 31, 14, 5),
        datetime(2025, 1, 31, 14, 5, 30),
        datetime(2025, 1, 31, 12, 0),
        datetime(2025, 1, 31, 14, 5, 0, 250000),
        datetime(2025, 1, 31, 0, 0),
    ]
    bad = norm_timestamp(arr("2025-01-31 25:00", "31/01/2025 10:61"))
    assert bad.invalid.to_pylist() == [True, True]


def test_amounts_with_separators_and_currency():
    r = norm_amount(
        arr(
            "1,234.50",
            "฿1,234",
            "THB 1,234",
            "1234.5",
            "1 234 บาท",
            "(50.00)",
            "-12",
            "12.",
            "abc",
            None,
            "1.2.3",
        )
    )
    assert r.values.to_pylist() == [
        1234.5,
        1234.0,
        1234.0,
        1234.5,
        1234.0,
        -50.0,
        -12.0,
        12.0,
        None,
        None,
        None,
    ]
    assert r.invalid.to_pylist() == [False] * 8 + [True, False, True]


def test_int():
    r = norm_int(arr("2", "2.0", "1,000", "2.5", "x", None))
    assert r.values.to_pylist() == [2, 2, 1000, None, None, None]
    assert r.invalid.to_pylist() == [False, False, False, True, True, False]


def test_email_trim_lower_and_syntax():
    r = norm_email(
        arr(
            " Foo.Bar@Example.COM ",
            "mailto:a@b.co.th",
            "bad@",
            "no-at.example.com",
            "a@@b.com",
            None,
            "a..b@x.com",
        )
    )
    assert r.values.to_pylist() == [
        "foo.bar@example.com",
        "a@b.co.th",
        "bad@",
        "no-at.example.com",
        "a@@b.com",
        None,
        "a..b@x.com",
    ]
    assert r.extra["_valid"].to_pylist() == [True, True, False, False, False, None, False]


def test_enum_thai_words_case_and_unknown():
    mapping = {"ชาย": "M", "หญิง": "F", "male": "M", "m": "M", "f": "F", "ไม่ระบุ": None}
    r = norm_enum(arr("ชาย", " หญิง ", "MALE", "m", "ไม่ระบุ", "alien", None), mapping)
    assert r.values.to_pylist() == ["M", "F", "M", "M", None, None, None]
    assert r.invalid.to_pylist() == [False, False, False, False, False, True, False]


def test_identifiers_stay_strings_and_text_is_nfc():
    assert norm_id(arr("0012", " 0012 ", "00")).values.to_pylist() == ["0012", "0012", "00"]
    decomposed = "e\u0301"  # e + combining acute
    r = norm_text(arr(f"  Caf{decomposed}   Bangkok ", "กรุงเทพ  มหานคร", ""))
    assert r.values.to_pylist() == ["Caf\u00e9 Bangkok", "กรุงเทพ มหานคร", None]


def test_bool():
    r = norm_bool(arr("yes", "NO", "1", "0", "maybe", None))
    assert r.values.to_pylist() == [True, False, True, False, None, None]
    assert r.invalid.to_pylist() == [False, False, False, False, True, False]


def test_empty_arrays():
    for fn in (norm_amount, norm_date, norm_timestamp, norm_phone, norm_email, norm_int, norm_text, norm_id):
        assert len(fn(arr()).values) == 0


def test_phone_business_rule_for_new_thai_mobile_blocks():
    # phonenumbers' allocation tables reject 069x; docs/DOMAIN.md's rule (06/08/09 = mobile) wins
    r = norm_phone(arr("069-893-2658", "+66 67 987 8072", "000-000-0000", "0212345678"))
    assert r.values.to_pylist() == ["+66698932658", "+66679878072", None, None]
    assert r.extra["_is_mobile"].to_pylist() == [True, True, None, None]
