"""A consent may name its person by number or address only (an SMS STOP from the webhook
receiver has no source_customer_id): it passes the gate; a consent naming nobody fails."""

from __future__ import annotations

import json
from datetime import date

import pytest

from sources import ingest_partition, load_declarations
from sources.quality import ERROR, validate_partition

DAY = date(2026, 11, 21)


def _report(tmp_path, phone):
    folder = tmp_path / "landing" / "consents" / DAY.isoformat()
    folder.mkdir(parents=True)
    row = {
        "source_system": "twilio",
        "source_customer_id": None,
        "email": None,
        "phone": phone,
        "channel": "sms",
        "status": "opt_out",
        "recorded_at": "2026-11-21T10:15:00",
    }
    (folder / "sms_optouts-0001.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    res = ingest_partition(
        load_declarations()["consents"],
        landing_dir=tmp_path / "landing",
        lake_dir=tmp_path / "lake",
        quarantine_dir=tmp_path / "q",
        load_date=DAY,
    )
    assert res.rows_loaded == 1
    return validate_partition(
        "consents", "consents", DAY, lake_dir=tmp_path / "lake", docs_dir=None, quarantine_dir=tmp_path / "q"
    )


@pytest.mark.parametrize("phone, ok", [("+66812345678", True), (None, False)])
def test_consent_subject(tmp_path, phone, ok):
    report = _report(tmp_path, phone)
    o = report.outcome("subject.not_null")
    assert o.severity == ERROR and o.passed is ok
    assert report.passed(ERROR) is ok, report.summary()
