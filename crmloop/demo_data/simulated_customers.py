"""Provider-feedback simulator for the demo: what the providers and customers "send back".

Given the sends of a day (a DataFrame of the ledger and audience rows, `sends_from_warehouse`)
plus the held-out audience rows, it produces, deterministically for a seed, the landing files
the next day's run ingests, all dated ``day`` (default: the day after the send), Asia/Bangkok:

| landing file | entity | what |
|---|---|---|
| ``email_events/<day>/feedback_sim-sendgrid.jsonl`` | email_events | processed, delivered, bounce, dropped, open, click, unsubscribe, spamreport |
| ``sms_events/<day>/feedback_sim-twilio.jsonl`` | sms_events | sent, delivered, undelivered, failed, inbound STOP replies |
| ``consents/<day>/{email,sms}_optouts-feedback_sim.jsonl`` | consents | unsubscribes, spam reports, STOPs |
| ``campaign_responses/<day>/feedback_sim-responses.csv`` | campaign_responses | rsvp, attended, applied, redeemed |
| ``orders/<day>/feedback_sim-orders.csv`` | orders | purchases, more likely in the treatment group than in the holdout |
| ``meta_ad_reports/<day>/meta-ads-report.csv``, ``google_ad_reports/<day>/google-ads-report.csv`` | ad_reports | per campaign × audience × day, in each platform's column names |

Email and SMS events are produced as the providers' own payloads (SendGrid event objects,
Twilio form callbacks) and turned into rows by the receiver's own parsers, so a simulated
file is byte-for-byte what the receiver would have stored. With ``post_to`` they are instead
POSTed, signed, to a running receiver (``crmloop webhooks``).

Causes a marketer would recognise are parameters (``FeedbackRates.causes``: campaign id → names
in ``CAUSES``): an unclear subject line (few opens), a long body (opened, few clicks), an
application form that loses people (clicked, few applications: on an email campaign an
application needs a click), a target set too high (a real lift over the holdout, still below the
target) and a campaign people would have bought without (no lift). ``DEMO_CAUSES`` gives the
default plan's campaigns one each, so the judged results show a different diagnosis per cause.
Responses and purchases are dated over the days from the send date to ``day``: give ``day`` the
last day of a KPI window to simulate the whole window in one delivery.

Pure generation (``simulate``) is separate from writing (``write_feedback``); files are
written to a temporary name and renamed, so a concurrent reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from activations.audiences.messages import send_id_for
from activations.audiences.suppression import CAMPAIGN_SUPPRESSIONS_TABLE, LEDGER_TABLE
from activations.audiences.tables import AUDIENCE_SNAPSHOTS_TABLE
from activations.plan.spec import LIST_CHANNELS_SQL, load_plan
from sources.webhooks.events import (
    BANGKOK,
    LandingRecord,
    parse_sendgrid_batch,
    parse_twilio_callback,
)

REQUIRED_SEND_COLUMNS = ("campaign_id", "customer_id", "channel")
RESPONSES_BY_METRIC: dict[str, tuple[str, ...]] = {
    "attend_rate": ("rsvp", "attended"),
    "apply_rate": ("applied",),
    "purchase_rate": ("redeemed",),
    "open_rate": (),
    "click_rate": (),
}
ORDER_COLUMNS = (
    "source_system",
    "order_id",
    "source_customer_id",
    "ordered_at",
    "channel",
    "store_id",
    "status",
    "total_amount",
    "currency",
)
RESPONSE_COLUMNS = ("response_id", "campaign_id", "customer_id", "email", "phone", "response", "occurred_at")
META_COLUMNS = (
    "Day",
    "Campaign name",
    "Ad set name",
    "Audience ID",
    "Impressions",
    "Link clicks",
    "Amount spent (THB)",
    "Results",
    "Matched audience size",
    "Records uploaded",
)
GOOGLE_COLUMNS = (
    "Day",
    "Campaign",
    "Audience segment",
    "Audience ID",
    "Impr.",
    "Clicks",
    "Cost",
    "Currency code",
    "Conversions",
    "Matched records",
    "Uploaded records",
)


@dataclass(frozen=True)
class Cause:
    """How one campaign's audience behaves differently from the defaults (None: the default)."""

    email_open: float | None = None  # of delivered
    email_click: float | None = None  # of opened
    apply_per_click: float | None = None  # of clickers, on a campaign with an email channel
    rsvp: float | None = None  # of the treatment group
    purchase_treatment: float | None = None
    purchase_holdout: float | None = None


CAUSES: dict[str, Cause] = {
    # the subject line does not say what the email is: few open it
    "unclear_subject": Cause(email_open=0.08),
    # opened, but few read down to the link (2% of openers click, against 20%)
    "long_body": Cause(email_click=0.02),
    # clicked through to the form, few finish it
    "hard_application_form": Cause(apply_per_click=0.15),
    # the campaign works (5% of the treatment buy against 1% of the holdout), but not to 10%
    "target_too_high": Cause(purchase_treatment=0.05, purchase_holdout=0.01),
    # people respond (40% RSVP) but buy no more than the holdout: they would have bought anyway
    "would_buy_anyway": Cause(rsvp=0.40, purchase_treatment=0.04, purchase_holdout=0.04),
}
# the default plan's campaigns, one cause each (prospect_welcome: its email is long, and its
# purchase target is too high for prospects on every channel)
DEMO_CAUSES: dict[str, tuple[str, ...]] = {
    "new_thank_you": ("unclear_subject",),
    "regular_winback": ("hard_application_form",),
    "prospect_welcome": ("long_body", "target_too_high"),
    "vip_party": ("would_buy_anyway",),
}


@dataclass(frozen=True)
class FeedbackRates:
    """Probabilities per send (email/SMS), per person (responses, purchases), per platform (ads)."""

    email_dropped: float = 0.01
    email_bounce: float = 0.03
    email_open: float = 0.34  # of delivered
    # an email that arrives at the hour the person usually buys or visits (their best_send_hour)
    # is opened this many times as often (capped at certain)
    email_open_best_hour_lift: float = 1.25
    email_click: float = 0.20  # of opened
    email_unsubscribe: float = 0.005  # of delivered
    email_spamreport: float = 0.001  # of delivered
    sms_failed: float = 0.02
    sms_undelivered: float = 0.04
    sms_stop: float = 0.012  # of delivered, reply STOP (or หยุด)
    # responses of the treatment group (the holdout was not invited, so it cannot respond)
    response: Mapping[str, float] = field(
        default_factory=lambda: {"rsvp": 0.28, "attended": 0.75, "applied": 0.12, "redeemed": 0.45}
    )  # attended is a share of rsvp; redeemed a share of purchasers
    purchase_holdout: float = 0.04
    purchase_treatment: float = 0.075
    purchase_treatment_by_metric: Mapping[str, float] = field(default_factory=lambda: {"purchase_rate": 0.09})
    ads_match: Mapping[str, float] = field(default_factory=lambda: {"meta": 0.62, "google": 0.48})
    ads_frequency: float = 3.2
    ads_ctr: Mapping[str, float] = field(default_factory=lambda: {"meta": 0.011, "google": 0.009})
    ads_cpm_thb: Mapping[str, float] = field(default_factory=lambda: {"meta": 95.0, "google": 80.0})
    ads_attribution: float = 0.3  # share of ads-audience purchasers a platform claims
    apply_per_click: float = 0.6  # on a campaign with an email channel, applications come from clickers
    causes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # campaign id -> CAUSES names

    def cause(self, campaign_id: str) -> Cause:
        """The campaign's causes merged in order (a later one wins a field both set)."""
        merged: dict[str, float] = {}
        for name in self.causes.get(campaign_id, ()):
            if name not in CAUSES:
                raise ValueError(
                    f"FeedbackRates.causes[{campaign_id!r}]: unknown cause {name!r} (known: {sorted(CAUSES)})"
                )
            merged.update({k: v for k, v in vars(CAUSES[name]).items() if v is not None})
        return Cause(**merged)


@dataclass
class FeedbackSet:
    """What ``simulate`` produced (nothing written yet)."""

    day: date
    records: list[LandingRecord]  # email_events, sms_events, consents
    responses: pd.DataFrame
    orders: pd.DataFrame
    meta: pd.DataFrame
    google: pd.DataFrame
    sendgrid_payloads: list[dict[str, Any]] = field(default_factory=list, repr=False)
    twilio_callbacks: list[tuple[str, dict[str, str], dict[str, str]]] = field(
        default_factory=list, repr=False
    )
    conversions: dict[tuple[str, bool], tuple[int, int]] = field(
        default_factory=dict
    )  # (campaign, holdout) -> (buyers, people)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.records:
            key = r.source if r.source != "consents" else f"consents_{r.row['channel']}"
            out[key] = out.get(key, 0) + 1
        out.update(
            campaign_responses=len(self.responses),
            orders=len(self.orders),
            meta_ad_rows=len(self.meta),
            google_ad_rows=len(self.google),
        )
        return out


def _u(seed: int, *parts: object) -> float:
    """A stable uniform number in [0, 1) for (seed, parts): independent of row order."""
    h = hashlib.blake2b("|".join(map(str, (seed, *parts))).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def _hour(v: Any) -> int | None:
    """A send hour / best hour column value (None, NaN, a float from a nullable column) as an int."""
    if v is None or pd.isna(v):
        return None
    return int(v)


def _at(day: date, seconds: float) -> datetime:
    seconds = min(max(seconds, 0.0), 86_399.0)
    local = datetime.combine(day, time(0), tzinfo=BANGKOK) + timedelta(seconds=int(seconds))
    return local


def _prepare(sends: pd.DataFrame, send_date: date) -> pd.DataFrame:
    missing = [c for c in REQUIRED_SEND_COLUMNS if c not in sends.columns]
    if missing:
        raise ValueError(f"sends: missing columns {missing}")
    df = sends.copy()
    if "to" not in df.columns:
        if "address" not in df.columns:
            raise ValueError("sends: need a 'to' or 'address' column")
        df["to"] = df["address"]
    df["holdout"] = df["holdout"].fillna(False).astype(bool) if "holdout" in df.columns else False
    for c in ("campaign_id", "customer_id", "channel"):
        df[c] = df[c].astype(str)
    if "send_id" not in df.columns:
        df["send_id"] = None
    df["send_id"] = [
        s if isinstance(s, str) and s else send_id_for(c, k, ch, send_date)
        for s, c, k, ch in zip(
            df["send_id"], df["campaign_id"], df["customer_id"], df["channel"], strict=True
        )
    ]
    bad = df.index[df["customer_id"].isin(["", "None", "nan"])]
    if len(bad):
        raise ValueError(f"sends: row {int(bad[0]) + 1}: empty customer_id")
    return df.sort_values(["campaign_id", "channel", "customer_id"], kind="stable").reset_index(drop=True)


def plan_kpi_metrics(plan_path: Path | None) -> dict[str, str]:
    """campaign id -> KPI metric of the plan at `plan_path`, read by the plan's own parser."""
    if plan_path is None:
        return {}
    return {c.id: c.kpi.metric for c in load_plan(plan_path).campaigns}


def simulate(
    sends: pd.DataFrame,
    send_date: date,
    *,
    day: date | None = None,
    seed: int = 42,
    rates: FeedbackRates | None = None,
    kpi_metrics: Mapping[str, str] | None = None,
    customer_keys: pd.DataFrame | None = None,
    status_callback_base: str = "https://hooks.crmloop.example",
    window_end: date | None = None,
) -> FeedbackSet:
    """Pure: the feedback for one day's sends.

    ``sends``: campaign_id, customer_id, channel (email/sms/ads/phone/direct_mail), to (or
    address), holdout (held-out rows are never contacted but may still buy), optional send_id,
    optional send_hour (the local hour a scheduled email went out; none: at once, 08:00-09:00)
    and best_send_hour (the person's usual hour: an email sent at it opens
    ``email_open_best_hour_lift`` times as often).
    ``kpi_metrics``: campaign_id → KPI metric (attend_rate/apply_rate/purchase_rate/...), which
    decides the responses simulated. ``customer_keys`` (customer_id, source_system,
    source_customer_id) keys the simulated orders as a source system knows the customer;
    without it orders carry source_system ``crm`` and the customer_id. ``window_end`` (default
    ``day``): responses and purchases are dated from the send date to it, so they may fall after
    ``day``; ``split_deliveries`` hands each to the delivery that brings it."""
    rates = rates or FeedbackRates()
    day = day or (send_date + timedelta(days=1))
    kpi_metrics = dict(kpi_metrics or {})
    df = _prepare(sends, send_date)
    records: list[LandingRecord] = []
    sg_payloads: list[dict[str, Any]] = []
    tw_callbacks: list[tuple[str, dict[str, str], dict[str, str]]] = []
    received = datetime.combine(day, time(23, 59, 59), tzinfo=BANGKOK).astimezone(UTC)

    contacted = df[~df["holdout"]]
    causes = {c: rates.cause(c) for c in sorted(set(df["campaign_id"]))}
    clickers: set[tuple[str, str]] = set()
    emailed = set(contacted.loc[contacted["channel"] == "email", "campaign_id"])
    # ---- email
    for r in contacted[contacted["channel"] == "email"].itertuples(index=False):
        cause = causes[r.campaign_id]
        p_open = rates.email_open if cause.email_open is None else cause.email_open
        p_click = rates.email_click if cause.email_click is None else cause.email_click
        hour, best = _hour(getattr(r, "send_hour", None)), _hour(getattr(r, "best_send_hour", None))
        if hour is None:
            base = 8 * 3600 + _u(seed, "t", r.send_id) * 3600  # sent at once: between 08:00 and 09:00
        else:  # scheduled (the campaign's send_time): within minutes of the hour
            base = hour * 3600 + _u(seed, "t", r.send_id) * 300
            if best is not None and hour == best:
                p_open = min(1.0, p_open * rates.email_open_best_hour_lift)
        common = {
            "email": str(r.to),
            "campaign_id": r.campaign_id,
            "send_id": r.send_id,
            "customer_id": r.customer_id,
            "sg_message_id": f"sim{r.send_id[:20]}.filter0001",
        }

        def ev(kind: str, at: float, _c=common, _sid=r.send_id, **extra: Any) -> None:
            sg_payloads.append(
                {
                    **_c,
                    "event": kind,
                    "timestamp": int(_at(day, at).timestamp()),
                    "sg_event_id": hashlib.sha1(f"{_sid}|{kind}".encode()).hexdigest()[:22],
                    **extra,
                }
            )

        ev("processed", base)
        fate = _u(seed, "email_fate", r.send_id)
        if fate < rates.email_dropped:
            ev("dropped", base + 1, reason="Bounced Address")
            continue
        if fate < rates.email_dropped + rates.email_bounce:
            ev(
                "bounce",
                base + 30,
                type="bounce",
                bounce_classification="Invalid Address",
                reason="550 5.1.1 The email account that you tried to reach does not exist",
            )
            continue
        ev("delivered", base + 5 + 60 * _u(seed, "d", r.send_id), response="250 OK")
        if _u(seed, "open", r.send_id) < p_open:
            opened = base + 600 + 36_000 * _u(seed, "ot", r.send_id)
            ev("open", opened)
            if _u(seed, "click", r.send_id) < p_click:
                clickers.add((r.campaign_id, r.customer_id))
                ev(
                    "click",
                    opened + 30 + 600 * _u(seed, "ct", r.send_id),
                    url=f"https://shop.crmloop.example/c/{r.campaign_id}",
                )
        u = _u(seed, "unsub", r.send_id)
        if u < rates.email_unsubscribe:
            ev("unsubscribe", base + 7200)
        elif u < rates.email_unsubscribe + rates.email_spamreport:
            ev("spamreport", base + 7200)
    for start in range(0, len(sg_payloads), 1000):
        chunk = sg_payloads[start : start + 1000]
        records += parse_sendgrid_batch(json.dumps(chunk, ensure_ascii=False).encode(), received)

    # ---- sms
    our_number = "+6625550100"
    for r in contacted[contacted["channel"] == "sms"].itertuples(index=False):
        sid = "SM" + hashlib.md5(f"{seed}|{r.send_id}".encode()).hexdigest()
        query = {"campaign_id": r.campaign_id, "send_id": r.send_id, "customer_id": r.customer_id}
        when = _at(day, 9 * 3600 + 3600 * _u(seed, "st", r.send_id))
        fate = _u(seed, "sms_fate", r.send_id)
        statuses = ["sent"]
        if fate < rates.sms_failed:
            statuses = ["failed"]
        elif fate < rates.sms_failed + rates.sms_undelivered:
            statuses.append("undelivered")
        else:
            statuses.append("delivered")
        for i, status in enumerate(statuses):
            form = {
                "MessageSid": sid,
                "MessageStatus": status,
                "To": str(r.to),
                "From": our_number,
                "AccountSid": "AC" + "0" * 32,
            }
            if status in ("failed", "undelivered"):
                form["ErrorCode"] = "30003" if status == "undelivered" else "30006"
            tw_callbacks.append(("/twilio/status", query, form))
            records += parse_twilio_callback(
                list(form.items()), query, (when + timedelta(seconds=5 * i)).astimezone(UTC), inbound=False
            )
        if statuses[-1] == "delivered" and _u(seed, "stop", r.send_id) < rates.sms_stop:
            word = "หยุด" if _u(seed, "stopword", r.send_id) < 0.4 else "STOP"
            in_sid = "SM" + hashlib.md5(f"{seed}|in|{r.send_id}".encode()).hexdigest()
            form = {
                "MessageSid": in_sid,
                "SmsStatus": "received",
                "From": str(r.to),
                "To": our_number,
                "Body": word,
            }
            tw_callbacks.append(("/twilio/inbound", {}, form))
            records += parse_twilio_callback(
                list(form.items()), {}, (when + timedelta(minutes=20)).astimezone(UTC), inbound=True
            )

    # ---- people: responses and purchases (per campaign × customer, not per channel)
    people = (
        df.groupby(["campaign_id", "customer_id"], sort=True)
        .agg(
            holdout=("holdout", "max"),
            channels=("channel", lambda s: tuple(sorted(set(s)))),
            to_email=("to", lambda s: _first_match(s, "@")),
            to_phone=("to", lambda s: _first_match(s, "+")),
        )
        .reset_index()
    )
    keys = {}
    if customer_keys is not None:
        for k in customer_keys.itertuples(index=False):
            keys.setdefault(str(k.customer_id), (str(k.source_system), str(k.source_customer_id)))
    responses, orders = [], []
    conversions: dict[tuple[str, bool], list[int]] = {}
    buyers: set[tuple[str, str]] = set()
    window_end = window_end or day
    span_days = max((window_end - send_date).days, 0) + 1  # responses and purchases: send_date .. window_end
    for p in people.itertuples(index=False):
        metric = kpi_metrics.get(p.campaign_id, "")
        cause = causes[p.campaign_id]
        if p.holdout:
            p_buy = rates.purchase_holdout if cause.purchase_holdout is None else cause.purchase_holdout
        elif cause.purchase_treatment is not None:
            p_buy = cause.purchase_treatment
        else:
            p_buy = rates.purchase_treatment_by_metric.get(metric, rates.purchase_treatment)
        bought = _u(seed, "buy", p.campaign_id, p.customer_id) < p_buy
        tally = conversions.setdefault((p.campaign_id, bool(p.holdout)), [0, 0])
        tally[0] += int(bought)
        tally[1] += 1
        if bought:
            buyers.add((p.campaign_id, p.customer_id))
        on = send_date + timedelta(days=int(span_days * _u(seed, "bd", p.campaign_id, p.customer_id)))
        when = _at(on, 10 * 3600 + 12 * 3600 * _u(seed, "bt", p.campaign_id, p.customer_id))
        if bought:
            system, src_id = keys.get(p.customer_id, ("crm", p.customer_id))
            amount = round(float(np.exp(7.2 + 0.6 * _gauss(seed, "amt", p.campaign_id, p.customer_id))), 2)
            orders.append(
                {
                    "source_system": system,
                    "order_id": "SIM-"
                    + hashlib.sha1(
                        f"{seed}|{p.campaign_id}|{p.customer_id}|{window_end}".encode()
                    ).hexdigest()[:16],
                    "source_customer_id": src_id,
                    "ordered_at": when.replace(tzinfo=None).isoformat(timespec="seconds"),
                    "channel": "online" if _u(seed, "och", p.customer_id) < 0.5 else "store",
                    "store_id": "WEB"
                    if _u(seed, "och", p.customer_id) < 0.5
                    else f"BKK{1 + int(_u(seed, 'st', p.customer_id) * 9):02d}",
                    "status": "completed",
                    "total_amount": amount,
                    "currency": "THB",
                }
            )
        if p.holdout:
            continue  # not invited: no rsvp, application or redemption
        kinds = RESPONSES_BY_METRIC.get(metric, ())

        def respond(kind: str, at: datetime, _p=p) -> None:
            responses.append(
                {
                    "response_id": "R-"
                    + hashlib.sha1(f"{seed}|{_p.campaign_id}|{_p.customer_id}|{kind}".encode()).hexdigest()[
                        :16
                    ],
                    "campaign_id": _p.campaign_id,
                    "customer_id": _p.customer_id,
                    "email": _p.to_email,
                    "phone": _p.to_phone,
                    "response": kind,
                    "occurred_at": at.replace(tzinfo=None).isoformat(timespec="seconds"),
                }
            )

        p_rsvp = rates.response["rsvp"] if cause.rsvp is None else cause.rsvp
        if p.campaign_id in emailed:  # the application form is behind the email's link
            p_apply = rates.apply_per_click if cause.apply_per_click is None else cause.apply_per_click
            if (p.campaign_id, p.customer_id) not in clickers:
                p_apply = 0.0
        else:
            p_apply = rates.response["applied"]
        if "rsvp" in kinds and _u(seed, "rsvp", p.campaign_id, p.customer_id) < p_rsvp:
            respond("rsvp", when)
            if _u(seed, "attend", p.campaign_id, p.customer_id) < rates.response["attended"]:
                respond("attended", when + timedelta(hours=2))
        if "applied" in kinds and _u(seed, "apply", p.campaign_id, p.customer_id) < p_apply:
            respond("applied", when)
        if (
            "redeemed" in kinds
            and bought
            and _u(seed, "redeem", p.campaign_id, p.customer_id) < rates.response["redeemed"]
        ):
            respond("redeemed", when + timedelta(minutes=1))

    meta, google = _ad_reports(df, day, seed, rates, buyers)
    return FeedbackSet(
        day=day,
        records=records,
        responses=pd.DataFrame(responses, columns=list(RESPONSE_COLUMNS)),
        orders=pd.DataFrame(orders, columns=list(ORDER_COLUMNS)),
        meta=meta,
        google=google,
        sendgrid_payloads=sg_payloads,
        twilio_callbacks=tw_callbacks,
        conversions={k: (v[0], v[1]) for k, v in conversions.items()},
    )


def _first_match(values: pd.Series, marker: str) -> str | None:
    for v in values:
        if isinstance(v, str) and marker in v:
            return v
    return None


def _gauss(seed: int, *parts: object) -> float:
    u1 = max(_u(seed, "g1", *parts), 1e-12)
    u2 = _u(seed, "g2", *parts)
    return float(np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2))


def _ad_reports(
    df: pd.DataFrame, day: date, seed: int, rates: FeedbackRates, buyers: set[tuple[str, str]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    ads = df[(df["channel"] == "ads") & ~df["holdout"]]
    meta_rows, google_rows = [], []
    for campaign_id, group in ads.groupby("campaign_id", sort=True):
        uploaded = int(group["customer_id"].nunique())
        n_buyers = sum((campaign_id, c) in buyers for c in group["customer_id"].unique())
        for platform in ("meta", "google"):
            rng = np.random.default_rng(int(_u(seed, "ads", campaign_id, platform) * 2**32))
            matched = int(rng.binomial(uploaded, rates.ads_match[platform]))
            impressions = int(rng.poisson(matched * rates.ads_frequency)) if matched else 0
            clicks = int(rng.binomial(impressions, rates.ads_ctr[platform])) if impressions else 0
            spend = round(impressions / 1000 * rates.ads_cpm_thb[platform], 2)
            conversions = int(rng.binomial(n_buyers, rates.ads_attribution)) if n_buyers else 0
            audience_id = f"crmloop_{campaign_id}_{platform}"
            head = (day.isoformat(), campaign_id, audience_id, audience_id, impressions, clicks, spend)
            tail = (conversions, matched, uploaded)
            if platform == "meta":
                meta_rows.append(dict(zip(META_COLUMNS, (*head, *tail), strict=True)))
            else:  # Google's report carries the currency between spend and conversions
                google_rows.append(dict(zip(GOOGLE_COLUMNS, (*head, "THB", *tail), strict=True)))
    return (
        pd.DataFrame(meta_rows, columns=list(META_COLUMNS)),
        pd.DataFrame(google_rows, columns=list(GOOGLE_COLUMNS)),
    )


def split_deliveries(feedback: FeedbackSet, days: Sequence[date]) -> dict[date, FeedbackSet]:
    """One cohort's feedback as it arrives over several deliveries: the providers' events and the
    ad reports with the first (``feedback.day``), each response and purchase with the first of
    ``days`` on or after its own date (at the earliest ``feedback.day``). A row dated after the
    last of ``days`` is an error: nothing simulated is silently dropped."""
    days = sorted({feedback.day, *days})
    if days[0] != feedback.day:
        raise ValueError(f"delivery {days[0]} is before the feedback's first day {feedback.day}")

    def due(when: pd.Series) -> pd.Series:
        dated = pd.to_datetime(when).dt.date
        late = dated[dated > days[-1]]
        if len(late):
            raise ValueError(f"a row dated {late.iloc[0]} falls after the last delivery {days[-1]}")
        return dated.map(lambda d: next(x for x in days if x >= d))

    responses_due = due(feedback.responses["occurred_at"])
    orders_due = due(feedback.orders["ordered_at"])
    out: dict[date, FeedbackSet] = {}
    for d in days:
        first = d == feedback.day
        out[d] = FeedbackSet(
            day=d,
            records=feedback.records if first else [],
            responses=feedback.responses[responses_due == d].reset_index(drop=True),
            orders=feedback.orders[orders_due == d].reset_index(drop=True),
            meta=feedback.meta if first else feedback.meta.iloc[0:0],
            google=feedback.google if first else feedback.google.iloc[0:0],
        )
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_feedback(
    feedback: FeedbackSet,
    landing_dir: Path,
    progress: Callable[[str], None] | None = None,
    *,
    tag: str = "",
) -> list[Path]:
    """Write the landing files (replacing the simulator's own files for that day and ``tag``:
    give each cohort its tag, e.g. its send date, when several deliver on one day)."""
    landing_dir = Path(landing_dir)
    written: list[Path] = []
    by_file: dict[Path, list[bytes]] = {}
    t = f"-{tag}" if tag else ""
    names = {
        "sendgrid": f"feedback_sim{t}-sendgrid.jsonl",
        "twilio": f"feedback_sim{t}-twilio.jsonl",
        "sms_optouts": f"sms_optouts-feedback_sim{t}.jsonl",
        "email_optouts": f"email_optouts-feedback_sim{t}.jsonl",
    }
    for rec in feedback.records:
        by_file.setdefault(landing_dir / rec.source / rec.day.isoformat() / names[rec.prefix], []).append(
            rec.line()
        )
    for path, lines in sorted(by_file.items()):
        _atomic_write(path, b"".join(lines))
        written.append(path)
    day = feedback.day.isoformat()
    for frame, rel in (
        (feedback.responses, f"campaign_responses/{day}/feedback_sim{t}-responses.csv"),
        (feedback.orders, f"orders/{day}/feedback_sim{t}-orders.csv"),
        (feedback.meta, f"meta_ad_reports/{day}/meta-ads-report{t}.csv"),
        (feedback.google, f"google_ad_reports/{day}/google-ads-report{t}.csv"),
    ):
        if frame.empty:
            continue
        buf = io.StringIO()
        frame.to_csv(buf, index=False)
        _atomic_write(landing_dir / rel, buf.getvalue().encode("utf-8"))
        written.append(landing_dir / rel)
    if progress:
        progress(f"feedback for {day}: {len(written)} files, {feedback.counts()}")
    return written


def post_feedback(
    feedback: FeedbackSet,
    base_url: str,
    sendgrid_private_key: Any,
    twilio_auth_token: str,
    *,
    batch: int = 500,
    timeout: float = 30.0,
    client: Any = None,
) -> dict[str, int]:
    """Deliver the email and SMS feedback to a running receiver, signed as the providers sign.

    Returns how many SendGrid events and Twilio callbacks were accepted; raises on any non-2xx.
    ``client``: an httpx.Client to use (e.g. a Starlette TestClient); default a new one."""
    import time as _time
    from urllib.parse import urlencode

    import httpx
    from twilio.request_validator import RequestValidator

    from sources.webhooks.signatures import sign_sendgrid_payload

    base = base_url.rstrip("/")
    sent = {"sendgrid_events": 0, "twilio_callbacks": 0}
    own = client is None
    client = client or httpx.Client(timeout=timeout)
    try:
        for start in range(0, len(feedback.sendgrid_payloads), batch):
            body = json.dumps(feedback.sendgrid_payloads[start : start + batch], ensure_ascii=False).encode()
            ts = str(int(_time.time()))
            resp = client.post(
                f"{base}/sendgrid/events",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Twilio-Email-Event-Webhook-Timestamp": ts,
                    "X-Twilio-Email-Event-Webhook-Signature": sign_sendgrid_payload(
                        sendgrid_private_key, body, ts
                    ),
                },
            )
            resp.raise_for_status()
            sent["sendgrid_events"] += resp.json()["stored"]
        for path, query, form in feedback.twilio_callbacks:
            url = f"{base}{path}" + (f"?{urlencode(query)}" if query else "")
            resp = client.post(
                url,
                content=urlencode(form),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": RequestValidator(twilio_auth_token).compute_signature(url, form),
                },
            )
            resp.raise_for_status()
            sent["twilio_callbacks"] += 1
    finally:
        if own:
            client.close()
    return sent


def simulate_feedback(
    sends: pd.DataFrame,
    send_date: date,
    landing_dir: Path,
    *,
    day: date | None = None,
    seed: int = 42,
    plan_path: Path | None = None,
    kpi_metrics: Mapping[str, str] | None = None,
    rates: FeedbackRates | None = None,
    customer_keys: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
) -> FeedbackSet:
    """Simulate and write the next day's feedback files; returns what was produced.

    The responses simulated per campaign follow its KPI metric, from ``kpi_metrics`` or else
    from the plan file at ``plan_path`` (``campaigns[].kpi.metric``)."""
    metrics = dict(kpi_metrics) if kpi_metrics is not None else plan_kpi_metrics(plan_path)
    fb = simulate(
        sends, send_date, day=day, seed=seed, rates=rates, kpi_metrics=metrics, customer_keys=customer_keys
    )
    write_feedback(fb, landing_dir, progress)
    return fb


SENDS_SQL = f"""
with snap as (
    select campaign_id, customer_id, channel, holdout, address, send_time_arm
    from {AUDIENCE_SNAPSHOTS_TABLE} where send_date = $d
),
supp as (
    select campaign_id, customer_id, channel from {CAMPAIGN_SUPPRESSIONS_TABLE} where send_date = $d
),
ledger as (
    select campaign_id, customer_id, channel, address, send_id, status
    from {LEDGER_TABLE} where send_date = $d
)
-- held out: never contacted, may still buy
select campaign_id, customer_id, channel, address as "to", cast(null as varchar) as send_id, true as holdout,
       cast(null as varchar) as send_time_arm
from snap where holdout
union all
-- email / sms: what the ledger says was sent, in the send-time arm the audience recorded
select l.campaign_id, l.customer_id, l.channel, l.address, l.send_id, false, s.send_time_arm
from ledger l left join snap s using (campaign_id, customer_id, channel) where l.status = 'sent'
union all
-- phone calls, direct mail and ad audiences go out as lists: everyone eligible on them
select s.campaign_id, s.customer_id, s.channel, s.address, null, false, null
from snap s anti join supp using (campaign_id, customer_id, channel)
where not s.holdout and s.channel in ({LIST_CHANNELS_SQL})
"""


def sends_from_warehouse(
    warehouse_path: Path, send_date: date, plan_path: Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sends, customer_keys) of one send date, read-only from the warehouse: the holdout, every
    email/SMS the ledger marks sent, and the eligible rows of the phone, direct-mail and ad lists;
    customer_keys maps each customer to one of its source records (for simulated orders).

    With ``plan_path``, each email also carries the local hour the plan sent it at (``send_hour``:
    the campaign's send_time for the person's recorded send-time arm, ``send_times.planned_time``;
    none for at once) and the person's ``best_send_hour`` (marts.customer_profiles; none where it is
    the population's fallback, not a habit of theirs), which the simulated opens depend on."""
    import duckdb

    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        sends = con.execute(SENDS_SQL, {"d": send_date}).df()
        keys = con.execute(
            "select customer_id, min(source_system) as source_system, "
            "min_by(source_customer_id, source_system) as source_customer_id "
            "from marts.customer_identity group by customer_id"
        ).df()
        hours = (
            con.execute(
                "select customer_id, best_send_hour, best_send_hour_source from marts.customer_profiles"
            ).df()
            if plan_path is not None
            else None
        )
    finally:
        con.close()
    if hours is not None:
        sends = _with_send_hours(sends, hours, plan_path)
    return sends, keys


def _with_send_hours(sends: pd.DataFrame, hours: pd.DataFrame, plan_path: Path) -> pd.DataFrame:
    from activations.audiences.send_times import planned_time

    camps = {c.id: c for c in load_plan(plan_path).campaigns}
    out = sends.merge(hours, on="customer_id", how="left", validate="many_to_one")
    send_hour = []
    for cid, ch, arm, best, held in zip(
        out["campaign_id"],
        out["channel"],
        out["send_time_arm"],
        out["best_send_hour"],
        out["holdout"],
        strict=True,
    ):
        c = camps.get(cid)
        at = None
        if c is not None and ch == "email" and not held:
            at = planned_time(c, None if arm is None or pd.isna(arm) else arm, _hour(best))
        send_hour.append(None if at is None else at.hour)
    out["send_hour"] = pd.Series(send_hour, index=out.index, dtype="object")
    # a fallback hour is everyone's, not the person's habit: it earns no lift in the simulation
    own = out["best_send_hour_source"].eq("personal")
    out["best_send_hour"] = out["best_send_hour"].astype(object).where(own, None)
    return out.drop(columns=["best_send_hour_source"])
