"""Names meet across scripts; places and addresses meet across their usual spellings."""

from __future__ import annotations

import pandas as pd

from sources.record_linkage.features import PREPARED_COLUMNS, address_key, phonetic_key, place_key, prepare


def test_thai_script_and_self_spelt_latin_names_meet():
    assert phonetic_key("สมชาย") == phonetic_key("Somchai") == phonetic_key("SOMCHAY")
    assert phonetic_key("ใจดี") == phonetic_key("Jaidee") == phonetic_key("Chaidee")
    assert phonetic_key("มาลี") == phonetic_key("Malee")
    assert phonetic_key("สมชาย") != phonetic_key("สมศักดิ์")


def test_missing_values_are_none_not_the_text_nan():
    assert phonetic_key(float("nan")) is None
    assert phonetic_key("  ") is None
    assert place_key(None) is None


def test_places_and_addresses_without_their_prefixes_and_abbreviations():
    assert place_key("เขตบางรัก") == place_key("บางรัก") == place_key("อ. บางรัก")
    assert address_key("12/3 ถนนสุขุมวิท") == address_key("12 / 3 ถ.สุขุมวิท")


def test_prepare_keeps_the_record_id_and_fills_every_prepared_column():
    records = pd.DataFrame(
        {
            "source_system": ["pos", "web"],
            "source_customer_id": ["0012", "W9"],
            "first_name": ["สมชาย", "Somchai"],
            "last_name": ["ใจดี", None],
            "birth_date": ["1987-01-31", None],
            "postal_code": ["10110", "1011"],
            "district": ["เขตวัฒนา", None],
            "province": ["กรุงเทพมหานคร", "กรุงเทพมหานคร"],
            "address": ["99 ถนนสุขุมวิท", None],
        }
    )
    out = prepare(records)
    assert list(out["unique_id"]) == ["pos:0012", "web:W9"]
    assert set(PREPARED_COLUMNS) <= set(out.columns)
    assert out.loc[0, "full_key"] == "somchai chaidi" and out.loc[1, "full_key"] is None
    assert out.loc[1, "postal_code"] is None  # four digits: not a Thai postcode
    assert out.loc[0, "district"] == "วัฒนา"
