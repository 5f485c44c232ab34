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


def test_hashes_send_ids_first_of_repeated_keys_and_unknown_status():
    import hashlib

    import pyarrow as pa
    import pytest

    from activations.audiences.messages import send_id_for

    audience = pd.DataFrame(
        {
            "campaign_id": ["new", "new", "new", "new"],
            "customer_id": ["a", "b", "a", "c"],
            "channel": ["email"] * 4,
            "holdout": [False, False, True, None],
            "address": ["a@x.th", None, "other@x.th", "c@x.th"],
        }
    )
    ledger = pd.DataFrame(
        {
            "campaign_id": ["new", "new"],
            "customer_id": ["b", "c"],
            "channel": ["email", "email"],
            "status": ["failed", "pending"],
            "reason": ["invalid_email", None],
            "send_id": ["s-b", "s-c"],
        }
    )
    no_sup = pd.DataFrame(
        {c: pd.Series([], dtype=object) for c in ["campaign_id", "customer_id", "channel", "reason"]}
    )
    for frames in (
        (audience, no_sup, ledger),
        tuple(pa.Table.from_pandas(f) for f in (audience, no_sup, ledger)),
    ):
        rows = compose_campaign_sends(*frames, SEND).to_pylist()
        got = {r["customer_id"]: r for r in rows}
        assert [r["customer_id"] for r in rows] == ["a", "b", "c"]  # one row per key, sorted
        # a repeated key counts its first row: "a" is not in the holdout, with its first address
        assert got["a"]["outcome"] == "queued" and got["a"]["holdout"] is False
        assert got["a"]["address_hash"] == hashlib.sha256(b"a@x.th").hexdigest()
        assert got["a"]["send_id"] == send_id_for("new", "a", "email", SEND)
        assert (got["b"]["outcome"], got["b"]["reason"], got["b"]["send_id"]) == (
            "failed",
            "invalid_email",
            "s-b",
        )
        assert got["b"]["address_hash"] is None
        assert (got["c"]["outcome"], got["c"]["holdout"], got["c"]["send_id"]) == ("ambiguous", False, "s-c")
    bad = ledger.assign(status=["sent", "exploded"])
    with pytest.raises(ValueError, match="unknown status 'exploded'"):
        compose_campaign_sends(audience, no_sup, bad, SEND)
