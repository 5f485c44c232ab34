"""deliver_prepared: everything prepare_messages hands over, in sandbox mode, counts adding up."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import date
from types import SimpleNamespace

from activations.audiences.messages import ChannelBatch, PreparedCampaign, PreparedCampaigns
from activations.delivery.api import deliver_prepared
from activations.delivery.config import DeliveryConfig
from tests.activations.delivery_helpers import SEND_DATE, email_messages, sms_messages


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
    ads = out["ads"]["campaigns"]["welcome"]
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
    assert again["ads"]["campaigns"]["welcome"]["meta"]["requests"] == 0
    assert len((day / "email/2025-03-14/sendgrid.jsonl").read_text().splitlines()) == 1
