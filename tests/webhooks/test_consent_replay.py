"""A START replayed after a later STOP does not re-subscribe the number, end to end: the real
receiver lands the messages, the ingestion room loads them with the real consents declaration,
and dbt's consent pick (stg_consents → customer_profiles) decides.

Twilio signs no timestamp, so a request replayed after the receiver's replay window verifies
and is stored again; what keeps it harmless is that consent rows carry the provider's message
id and the warehouse counts each message once, at its first receipt."""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from crmloop.settings import WebhookConfig
from sources.declarations import load_declarations
from sources.ingest import ingest_partition, landing_partitions
from sources.webhooks.app import create_app
from sources.webhooks.events import BANGKOK
from tests.dbt.dbt_helpers import dbt_in_process, query
from tests.dbt.scenario import DAY1, build_day1
from tests.webhooks.conftest import TWILIO_TOKEN, signed_twilio

NUMBER = "+66811111111"  # records web:B and pos:C of the scenario's person A~B~C
URL = "http://testserver/twilio/inbound"


def _inbound(sid_char: str, body: str) -> dict[str, str]:
    return {"MessageSid": "SM" + sid_char * 32, "From": NUMBER, "To": "+6625550100", "Body": body}


def _at(day: str, hour: int) -> float:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=BANGKOK).timestamp()


def _receive(landing, moment: float, params: dict[str, str], headers: dict[str, str]) -> int:
    """One request to a receiver process running at ``moment`` (a new process each time)."""
    cfg = WebhookConfig(landing_dir=landing, twilio_auth_token=TWILIO_TOKEN)
    with TestClient(create_app(cfg, clock=lambda: moment)) as client:
        return client.post(URL, content=urlencode(params), headers=headers).status_code


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("consent_replay")
    landing, lake = root / "landing", root / "lake"
    start, stop = _inbound("a", "START"), _inbound("b", "STOP")
    start_headers = signed_twilio(URL, start)
    assert _receive(landing, _at("2025-06-10", 9), start, start_headers) == 200
    # the captured START resent byte for byte five minutes later, to a restarted receiver: refused
    assert _receive(landing, _at("2025-06-10", 9) + 300, start, start_headers) == 409
    assert _receive(landing, _at("2025-06-12", 9), stop, signed_twilio(URL, stop)) == 200
    # ... and eight days later, outside any replay window: it verifies and is stored again
    assert _receive(landing, _at("2025-06-20", 9), start, start_headers) == 200
    build_day1(lake)
    decls = load_declarations()
    days = landing_partitions(landing)["consents"]
    assert days == [date(2025, 6, 10), date(2025, 6, 12), date(2025, 6, 20)]
    for day in days:
        res = ingest_partition(
            decls["consents"], landing_dir=landing, lake_dir=lake, quarantine_dir=root / "q", load_date=day
        )
        assert (res.rows_loaded, res.rows_quarantined) == (1, 0)
    wh = root / "wh" / "warehouse.duckdb"
    wh.parent.mkdir()
    dbt_in_process(
        [
            "build",
            "--select",
            "+customer_profiles",
            "--exclude-resource-type",
            "test",
            "--exclude-resource-type",
            "unit_test",
        ],
        warehouse=wh,
        lake=lake,
        work=root / "dbt",
        as_of=DAY1,
    )
    return wh


def test_replayed_start_after_stop_does_not_resubscribe(warehouse):
    rows = query(
        warehouse,
        """select p.consent_sms, p.sms_reachable from marts.customer_profiles p
            join marts.customer_identity i on i.customer_id = p.customer_id
            where i.source_system = 'pos' and i.source_customer_id = 'C'""",
    )
    assert rows == [("opt_out", False)]


def test_each_provider_message_counts_once(warehouse):
    rows = query(
        warehouse,
        f"select status, count(*) from staging.stg_consents where phone = '{NUMBER}' group by status order by 1",
    )
    assert rows == [("opt_in", 1), ("opt_out", 1)]
