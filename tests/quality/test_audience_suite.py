"""Audience gate: clean audiences pass; an opted-out person, duplicates, bad addresses, a size jump fail."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from activations.audiences.build import write_audiences
from activations.audiences.gate import (
    AudienceFrameError,
    load_audience_frame,
    previous_audience_sizes,
    validate_audiences,
)
from activations.audiences.suppression import write_suppressions
from sources.quality import ERROR, WARN


def clean_audience(n: int = 30) -> pd.DataFrame:
    rows = []
    for i in range(n):
        cid = f"c{i:04d}"
        hold = i % 10 == 0
        rows.append(
            dict(
                campaign_id="welcome",
                customer_id=cid,
                channel="email",
                holdout=hold,
                address=f"user{i}@example.co.th",
                consent="opt_in",
            )
        )
        rows.append(
            dict(
                campaign_id="welcome",
                customer_id=cid,
                channel="sms",
                holdout=hold,
                address=f"+6681{i:07d}",
                consent="opt_in",
            )
        )
        rows.append(
            dict(
                campaign_id="vip_party",
                customer_id=cid,
                channel="direct_mail",
                holdout=False,
                address=f"{i} ถนนสุขุมวิท วัฒนา กรุงเทพมหานคร 10110",
                consent="opt_in",
            )
        )
        rows.append(
            dict(
                campaign_id="prospect",
                customer_id=cid,
                channel="ads",
                holdout=False,
                address=f"user{i}@example.co.th" if i % 2 else f"+6689{i:07d}",
                consent="opt_in",
            )
        )
    return pd.DataFrame(rows)  # fmt: skip


PREVIOUS = {
    ("welcome", "email"): 28,
    ("welcome", "sms"): 31,
    ("vip_party", "direct_mail"): 30,
    ("prospect", "ads"): 30,
}


def test_clean_audiences_pass_every_expectation(tmp_path):
    report = validate_audiences(clean_audience(), PREVIOUS, docs_dir=tmp_path / "dd")
    assert report.ok, report.summary()
    suites = {o.suite for o in report.outcomes}
    assert suites == {"audience.welcome.email", "audience.welcome.sms", "audience.vip_party.direct_mail",
                      "audience.prospect.ads"}  # fmt: skip
    assert sum(o.name == "size.within_band" for o in report.outcomes) == 4
    assert report.docs_path.is_file() and len(report.docs_pages) == 4


def test_opted_out_person_forced_into_audience_fails_with_error():
    df = clean_audience()
    forced = df.index[(df.channel == "sms") & (df.customer_id == "c0007")][0]
    df.loc[forced, "consent"] = "opt_out"
    report = validate_audiences(df, PREVIOUS, docs_dir=None)
    o = report.outcome_in("audience.welcome.sms", "consent.no_opt_out")
    assert not o.passed and o.severity == ERROR and o.unexpected_count == 1
    assert o.sample_bad_values == ["c0007"]
    assert [x.name for x in report.failures(ERROR)] == ["consent.no_opt_out"]


def test_opted_out_person_in_holdout_or_suppressed_is_not_sent_and_passes():
    df = clean_audience()
    df["suppression_reason"] = None
    hold = df.index[(df.channel == "sms") & (df.customer_id == "c0010")][0]  # holdout row
    supp = df.index[(df.channel == "sms") & (df.customer_id == "c0011")][0]
    df.loc[[hold, supp], "consent"] = "opt_out"
    df.loc[supp, "suppression_reason"] = "opted_out"
    assert validate_audiences(df, PREVIOUS, docs_dir=None).passed(ERROR)


def test_duplicate_recipient_and_invalid_address_fail_with_error():
    df = clean_audience()
    dup = df[(df.channel == "email") & (df.customer_id == "c0003")]
    df = pd.concat([df, dup], ignore_index=True)
    bad = df.index[(df.channel == "sms") & (df.customer_id == "c0004")][0]
    df.loc[bad, "address"] = "+6621234567"  # a Bangkok landline cannot receive SMS
    report = validate_audiences(df, PREVIOUS, docs_dir=None)
    uniq = report.outcome_in("audience.welcome.email", "recipient.unique_customer")
    assert not uniq.passed and uniq.severity == ERROR and uniq.sample_bad_values == ["c0003"]
    addr = report.outcome_in("audience.welcome.sms", "address.valid")
    assert not addr.passed and addr.severity == ERROR and addr.sample_bad_values == ["+6621234567"]
    assert report.outcome_in("audience.welcome.email", "recipient.unique_address").severity == WARN


def test_missing_address_and_unknown_consent():
    df = clean_audience()
    i = df.index[(df.channel == "direct_mail") & (df.customer_id == "c0005")][0]
    df.loc[i, "address"] = None
    j = df.index[(df.channel == "email") & (df.customer_id == "c0006")][0]
    df.loc[j, "consent"] = "unknown"
    report = validate_audiences(df, PREVIOUS, docs_dir=None)
    assert not report.outcome_in("audience.vip_party.direct_mail", "address.present").passed
    unknown = report.outcome_in("audience.welcome.email", "consent.opt_in")
    assert not unknown.passed and unknown.severity == WARN and unknown.sample_bad_values == ["c0006"]


def test_audience_size_outside_band_and_vanished_audience_fail():
    previous = dict(PREVIOUS)
    previous[("welcome", "email")] = 100  # 30 now: -70%
    previous[("reactivate", "email")] = 50  # audience gone entirely
    report = validate_audiences(clean_audience(), previous, docs_dir=None)
    o = report.outcome_in("audience.welcome.email", "size.within_band")
    assert not o.passed and o.severity == ERROR and o.observed_value == 30
    gone = report.outcome_in("audience.reactivate.email", "size.within_band")
    assert not gone.passed and gone.observed_value == 0


def test_bad_frame_is_rejected_with_a_clear_error():
    with pytest.raises(AudienceFrameError, match="consent"):
        validate_audiences(clean_audience().drop(columns=["consent"]), {}, docs_dir=None)
    df = clean_audience()
    df.loc[0, "channel"] = "pigeon"
    with pytest.raises(AudienceFrameError, match="pigeon"):
        validate_audiences(df, {}, docs_dir=None)


def test_loaders_read_the_warehouse(tmp_path):
    wh = tmp_path / "warehouse.duckdb"
    aud = clean_audience(10)
    aud["reason_included"] = "segment"
    aud["as_of"] = date(2025, 3, 10)
    aud["send_date"] = date(2025, 3, 11)
    # the previous send date's snapshot: all email and sms rows, 3 direct-mail and 2 ads rows
    prev = pd.concat(
        [
            aud[aud.channel.isin(["email", "sms"])],
            aud[aud.channel == "direct_mail"].head(3),
            aud[aud.channel == "ads"].head(2),
        ]
    )
    prev["send_date"] = date(2025, 3, 4)
    profiles = pd.DataFrame({"customer_id": [f"c{i:04d}" for i in range(10)]})
    for col in ("consent_email", "consent_sms", "consent_phone", "consent_dm", "consent_ads"):
        profiles[col] = "opt_in"
    profiles.loc[3, "consent_sms"] = "opt_out"
    supp = pd.DataFrame({"campaign_id": ["welcome"], "customer_id": ["c0003"], "channel": ["sms"],
                         "reason": ["opted_out"], "send_date": [date(2025, 3, 11)]})  # fmt: skip
    con = duckdb.connect(str(wh))
    # the audience stage's own writers: the previous send date's run, then this one
    write_audiences(con, prev, date(2025, 3, 4))
    write_audiences(con, aud, date(2025, 3, 11))
    write_suppressions(con, supp, date(2025, 3, 11))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.customer_profiles AS SELECT * FROM profiles")
    con.close()

    frame = load_audience_frame(wh)
    assert len(frame) == 40
    row = frame[(frame.customer_id == "c0003") & (frame.channel == "sms")].iloc[0]
    assert row.consent == "opt_out" and row.suppression_reason == "opted_out"
    sizes = previous_audience_sizes(wh)
    assert sizes == {("welcome", "email"): 10, ("welcome", "sms"): 10, ("vip_party", "direct_mail"): 3,
                     ("prospect", "ads"): 2}  # fmt: skip
    report = validate_audiences(frame, sizes, docs_dir=None)
    # the opted-out person is suppressed, so nothing opted-out goes out; direct_mail/ads grew > 50%
    assert report.outcome_in("audience.welcome.sms", "consent.no_opt_out").passed
    assert {(o.suite, o.name) for o in report.failures(ERROR)} == {
        ("audience.vip_party.direct_mail", "size.within_band"),
        ("audience.prospect.ads", "size.within_band"),
    }


def test_a_failed_warn_names_the_campaign_and_channel_it_concerns(tmp_path):
    """The summary (the check's description, the run summary's line) says which audience failed."""
    df = clean_audience()
    sms = df.index[(df["campaign_id"] == "welcome") & (df["channel"] == "sms")]
    df.loc[sms[2], "address"] = df.loc[sms[1], "address"]  # two people share one mobile
    report = validate_audiences(df, PREVIOUS, docs_dir=tmp_path / "dd")
    assert report.passed(ERROR)
    assert report.summary(
        WARN
    ).endswith(
        "1 of 8 failed: recipient.unique_address [WARN] in audience.welcome.sms: 2 unexpected (7.41%)"  # 2 of 27 outgoing (3 held out)
    ), report.summary(WARN)
