"""deliver_prepared: everything prepare_messages hands over, in sandbox mode, counts adding up."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import SimpleNamespace

from activations.audiences.messages import ChannelBatch, PreparedCampaign, PreparedCampaigns
from activations.delivery.api import deliver_prepared
from activations.exports.files import write_exports
from crmloop.settings import DeliveryConfig
from tests.activations.delivery_helpers import (
    META_TOKEN,
    SEND_DATE,
    SG_KEY,
    TW_SID,
    TW_TOKEN,
    email_messages,
    live_config,
    sms_messages,
)
from tests.fakes.providers import FakeMeta, FakeSendGrid, FakeTwilio


def _prepared() -> PreparedCampaigns:
    emails = email_messages(40, campaign="welcome")
    sms = sms_messages(10, campaign="welcome")
    ads = [
        replace(
            m,
            channel="ads",
            fields={**m.fields, "phone": f"081{i:07d}", "postal_code": "10110", "country": "TH"},
        )
        for i, m in enumerate(email_messages(25, campaign="welcome"))
    ]
    camp = PreparedCampaign(
        campaign_id="welcome",
        name="Welcome",
        active=True,
        channels={
            "email": ChannelBatch(
                "welcome",
                "email",
                audience=50,
                holdout=5,
                suppressed={"no_consent": 5},
                messages=emails,
                sample=emails[0],
            ),
            "sms": ChannelBatch(
                "welcome",
                "sms",
                audience=14,
                holdout=1,
                suppressed={"landline": 3},
                messages=sms,
                sms_segments=10,
                estimated_cost=12.0,
            ),
            "ads": ChannelBatch(
                "welcome", "ads", audience=30, holdout=2, suppressed={"no_consent": 3}, messages=ads
            ),
        },
    )
    return PreparedCampaigns(as_of=date(2025, 3, 13), send_date=SEND_DATE, campaigns={"welcome": camp})


def test_deliver_prepared_sandbox_counts_add_up_and_rerun_is_idempotent(tmp_path):
    settings = SimpleNamespace(home=tmp_path)
    cfg = DeliveryConfig.from_env(home=tmp_path, env={})
    out = deliver_prepared(_prepared(), settings, cfg=cfg)
    for ch in ("email", "sms"):
        md = out[ch]
        suppressed = sum(md["suppressed_by_reason"].values())
        assert md["audience"] == md["holdout"] + suppressed + md["sent"] + sum(
            md["failed_by_reason"].values()
        )
    assert out["email"]["sent"] == 40 and out["sms"]["sent"] == 10
    ads = out["ads"]["by_campaign"]["welcome"]
    assert ads["meta"]["added"] == 25 and ads["google_customer_match"]["rows"] == 25
    assert ads["audience"] == ads["holdout"] + sum(ads["suppressed"].values()) + ads["sent"]
    day = tmp_path / "outbox"
    meta_lines = (day / "ads/2025-03-14/meta.jsonl").read_text(encoding="utf-8").splitlines()
    payload = json.loads(meta_lines[0])["body"]["payload"]
    assert (
        payload["schema"] == ["EMAIL", "PHONE", "FN", "LN", "ZIP", "COUNTRY"] and len(payload["data"]) == 25
    )
    assert "access_token" not in meta_lines[0]
    with open(day / "ads/2025-03-14/google_customer_match_welcome.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"] and len(rows) == 26
    # rerun of the same day: no new requests anywhere
    again = deliver_prepared(_prepared(), settings, cfg=cfg)
    assert again["email"]["sent"] == 0 and again["email"]["already_in_ledger"] == {"sent": 40}
    assert again["sms"]["sent"] == 0
    assert again["ads"]["by_campaign"]["welcome"]["meta"]["requests"] == 0
    assert len((day / "email/2025-03-14/sendgrid.jsonl").read_text().splitlines()) == 1


def test_live_mode_keeps_what_sandbox_shows(tmp_path):
    """Live, against the fakes: the Google Customer Match file survives the marketers' export
    (which clears files it did not write from exports/<date>/<campaign>/), the ads summary
    carries the Meta sync counts at the top (the orchestration lays `campaigns` out itself), and
    the SMS price is the plan's only."""
    with (
        FakeSendGrid(api_key=SG_KEY) as sg,
        FakeTwilio(account_sid=TW_SID, auth_token=TW_TOKEN) as tw,
        FakeMeta(access_token=META_TOKEN) as meta,
    ):
        cfg = live_config(tmp_path, sendgrid=sg, twilio=tw, meta=meta)
        prepared = _prepared()
        out = deliver_prepared(prepared, SimpleNamespace(home=tmp_path), cfg=cfg)
        write_exports(prepared, tmp_path / "exports")  # after the ads step, as the channels asset does
        assert len(meta.members["6000000000001"]) == 25
    ads = out["ads"]
    assert "campaigns" not in ads  # a key the channels asset overwrites with its own table
    assert (ads["meta_added"], ads["meta_removed"], ads["sent"]) == (25, 0, 25)
    assert ads["google_customer_match_rows"] == 25
    (gfile,) = ads["google_customer_match_files"]
    assert Path(gfile).is_file() and Path(gfile).read_text(encoding="utf-8").count("\n") == 26
    assert sg.requests_bodies and all(b["asm"] == {"group_id": 1001} for b in sg.requests_bodies)
    # one SMS price: the plan's estimate (12.0 for 10 segments in _prepared), no config price
    sms = out["sms"]
    assert "sms_price_per_segment" not in sms and sms["currency"] == "THB"
    assert (sms["sms_segments"], sms["estimated_cost"]) == (10, 12.0)
    assert not hasattr(cfg, "sms_price_per_segment")
