"""The outcome of every audience member, as the campaign results count it."""

from datetime import date

import pandas as pd

from activations.delivery.campaign_state import compose_campaign_sends

SEND = date(2025, 7, 1)


def test_outcomes_by_precedence_and_list_channels_count_as_sent():
    audience = pd.DataFrame(
        {
            "campaign_id": ["vip"] * 4 + ["new"] * 4,
            "customer_id": ["a", "b", "c", "d", "a", "b", "c", "d"],
            "channel": ["phone"] * 4 + ["email"] * 4,
            "holdout": [True, False, False, False, True, False, False, False],
            "address": ["x"] * 8,
        }
    )
    suppressions = pd.DataFrame(
        {
            "campaign_id": ["vip", "new"],
            "customer_id": ["b", "b"],
            "channel": ["phone", "email"],
            "reason": ["no_consent", "opted_out"],
        }
    )
    ledger = pd.DataFrame(
        {
            "campaign_id": ["new"],
            "customer_id": ["c"],
            "channel": ["email"],
            "status": ["sent"],
            "reason": [None],
            "send_id": ["s1"],
        }
    )
    rows = compose_campaign_sends(audience, suppressions, ledger, SEND).to_pylist()
    got = {(r["campaign_id"], r["customer_id"]): (r["outcome"], r["reason"]) for r in rows}
    assert got[("vip", "a")] == ("holdout", None)
    assert got[("vip", "b")] == ("suppressed", "no_consent")
    # the phone call list was handed over in the run's export: those people were contacted
    assert got[("vip", "c")] == ("sent", None) and got[("vip", "d")] == ("sent", None)
    assert got[("new", "b")] == ("suppressed", "opted_out")
    assert got[("new", "c")] == ("sent", None)
    # an email with no ledger row has not gone out yet
    assert got[("new", "d")] == ("queued", None)
