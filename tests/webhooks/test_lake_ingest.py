"""The receiver's and the simulator's landing files go through the ingestion room's own code
(sources.ingest.ingest_partition) and its own declarations (sources/declarations/, entities in
sources/schema.py) with no row quarantined."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from crmloop.demo_data.simulated_customers import simulate_feedback
from crmloop.settings import WebhookConfig
from sources.declarations import load_declarations
from sources.ingest import ingest_partition, landing_partitions
from sources.webhooks.app import create_app
from tests.webhooks.conftest import TWILIO_TOKEN, public_b64, sg_event, signed_sendgrid, signed_twilio
from tests.webhooks.test_feedback_sim import KPIS, make_sends

DAY = date(2026, 11, 22)


@pytest.fixture(scope="module")
def declarations():
    return load_declarations()


def _ingest(decls, name, landing, tmp_path, day=DAY):
    res = ingest_partition(
        decls[name],
        landing_dir=landing,
        lake_dir=tmp_path / "lake",
        quarantine_dir=tmp_path / "q",
        load_date=day,
    )
    assert res.rows_quarantined == 0, (name, res.reason_counts, res.samples[:3])
    assert not res.unreadable_files, res.files
    return res


def test_simulated_feedback_ingests_without_quarantine(tmp_path, declarations):
    landing = tmp_path / "landing"
    fb = simulate_feedback(make_sends(120), date(2026, 11, 21), landing, seed=4, kpi_metrics=KPIS)
    counts = fb.counts()
    expected = {
        "email_events": counts["email_events"],
        "sms_events": counts["sms_events"],
        "consents": counts.get("consents_sms", 0) + counts.get("consents_email", 0),
        "orders": counts["orders"],
        "campaign_responses": counts["campaign_responses"],
        "meta_ad_reports": 1,
        "google_ad_reports": 1,
    }
    for name, n in expected.items():
        res = _ingest(declarations, name, landing, tmp_path)
        assert res.rows_loaded == n, name
    ads = pq.read_table(tmp_path / "lake" / "ad_reports").to_pandas()
    assert sorted(ads["platform"]) == ["google", "meta"]
    assert (ads["uploaded_users"] == 108).all() and (ads["matched_users"] < ads["uploaded_users"]).all()
    assert ads["spend"].gt(0).all() and str(ads["date"].iloc[0]) == "2026-11-22"
    email = pq.read_table(tmp_path / "lake" / "email_events").to_pandas()
    assert str(email["occurred_at"].dtype).startswith("datetime64") and email["event_id"].is_unique


def test_receiver_files_ingest_without_quarantine(tmp_path, declarations, sg_private_key):
    landing = tmp_path / "landing"
    cfg = WebhookConfig(
        landing_dir=landing, sendgrid_public_key=public_b64(sg_private_key), twilio_auth_token=TWILIO_TOKEN
    )
    with TestClient(create_app(cfg)) as client:
        body, headers = signed_sendgrid(
            sg_private_key,
            [sg_event(i, ev) for i, ev in enumerate(["delivered", "open", "click", "unsubscribe", "bounce"])],
        )
        assert client.post("/sendgrid/events", content=body, headers=headers).status_code == 200
        url = "http://testserver/twilio/inbound"
        params = {"MessageSid": "SM" + "c" * 32, "From": "+66812345678", "To": "+6625550100", "Body": "หยุด"}
        assert (
            client.post(url, content=urlencode(params), headers=signed_twilio(url, params)).status_code == 200
        )
    partitions = landing_partitions(landing)  # the receiver's replay memory is no source
    assert set(partitions) == {"email_events", "sms_events", "consents"}
    for name, n in (("email_events", 5), ("sms_events", 1), ("consents", 2)):
        loaded = sum(_ingest(declarations, name, landing, tmp_path, d).rows_loaded for d in partitions[name])
        assert loaded == n, name
    consents = pq.read_table(tmp_path / "lake" / "consents").to_pandas()
    assert sorted(zip(consents["channel"], consents["status"], strict=True)) == [
        ("email", "opt_out"),
        ("sms", "opt_out"),
    ]
    assert "+66812345678" in set(consents["phone"])
