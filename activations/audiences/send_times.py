"""When each message of a send date goes out: the plan's `send_time` per campaign, per person.

Pure functions (no I/O). A campaign's `send_time` (activations/plan/spec.py):
- unset: at once (the run's clock), as before;
- `"HH:MM"`: that time of the plan's time zone;
- `personal`: the person's `best_send_hour` (marts.customer_profiles, dbt int_best_send_hour: the
  hour they usually buy or visit, a fallback hour for people with few events), at HH:00;
  with `send_time_control`, a stable share of the audience (`send_time_arm` 'control', a hash of
  campaign and customer like the holdout's, independent of it) gets the control's time instead
  (`at`, or at once), so the two arms' open rates compare like a holdout.

The time is the next one at or after the run's clock `now` (a person whose hour has passed today
gets it tomorrow: at most 24 hours ahead, inside SendGrid's 72 hours); `None` means at once.
SMS quiet hours still win: an SMS whose time falls inside them goes when they end
(`quiet_hours_not_before`). Delivery turns the time into SendGrid's per-personalization
`send_at` (channels/email.py) and Twilio's scheduled `send_at` (channels/sms.py).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from activations.audiences.journeys import holdout_score
from activations.plan.spec import Campaign, Plan

PERSONAL = "personal"
CONTROL = "control"
ARMS = (PERSONAL, CONTROL)
SCHEDULED_CHANNELS = ("email", "sms")  # the list channels (calls, letters, ads) have no send time
HOUR_COLUMN = "best_send_hour"
ARM_COLUMN = "send_time_arm"


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start > end:  # wraps midnight, e.g. 21:00–08:00
        return local >= start or local < end
    return start <= local < end


def quiet_hours_not_before(now: datetime, start: time, end: time, tz: str) -> datetime | None:
    """The first moment SMS may be sent when `now` is inside quiet hours, else None."""
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    if not in_quiet_hours(local.time(), start, end):
        return None
    day = local.date()
    if start > end and local.time() >= start:
        day = day + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)


def send_time_arm(campaign: Campaign, customer_id: str) -> str | None:
    """'personal' or 'control' for a campaign with `send_time: personal`, else None. The control
    share is a stable hash of (campaign, customer) salted apart from the holdout's."""
    if campaign.send_time != PERSONAL:
        return None
    ctl = campaign.send_time_control
    if ctl is not None and holdout_score(f"{campaign.id}\x1fsend_time", customer_id) < ctl.share:
        return CONTROL
    return PERSONAL


def next_at(local: time, now: datetime, tz: str) -> datetime:
    """The next `local` wall-clock time (plan time zone) at or after `now` (tz-aware)."""
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    zone = ZoneInfo(tz)
    here = now.astimezone(zone)
    at = datetime.combine(here.date(), local, tzinfo=zone)
    return at if at >= here else datetime.combine(here.date() + timedelta(days=1), local, tzinfo=zone)


def planned_time(campaign: Campaign, arm: str | None, best_hour: int | None) -> time | None:
    """The wall-clock time a person is sent at (None: at once), before the clock and quiet hours."""
    if campaign.send_time is None:
        return None
    if campaign.send_time == PERSONAL:
        if arm == CONTROL:
            return campaign.send_time_control.at if campaign.send_time_control else None
        if best_hour is None or pd.isna(best_hour) or not 0 <= int(best_hour) <= 23:
            raise ValueError(
                f"campaign {campaign.id!r} sends at each person's best_send_hour, got {best_hour!r} "
                "(customer_profiles.best_send_hour is 0-23 and never null: rebuild the dbt models)"
            )
        return time(int(best_hour))
    return campaign.send_time


def scheduled_send(
    campaign: Campaign,
    channel: str,
    arm: str | None,
    best_hour: int | None,
    now: datetime,
    plan: Plan,
) -> datetime | None:
    """When one message goes (tz-aware, plan time zone), or None for at once."""
    local = planned_time(campaign, arm, best_hour) if channel in SCHEDULED_CHANNELS else None
    at = next_at(local, now, plan.timezone) if local is not None else None
    if channel != "sms":
        return at
    q = plan.sms.quiet_hours
    quiet_end = quiet_hours_not_before(at or now, q.start, q.end, plan.timezone)
    return quiet_end or at


def scheduled_sends(eligible: pd.DataFrame, plan: Plan, now: datetime) -> pd.Series:
    """`not_before` of every eligible row (campaign_id, channel, send_time_arm, best_send_hour):
    tz-aware datetimes or None, computed once per distinct (campaign, channel, arm, hour)."""
    if not len(eligible):
        return pd.Series([], dtype="object")
    camps = {c.id: c for c in plan.campaigns}
    arm = eligible[ARM_COLUMN] if ARM_COLUMN in eligible else pd.Series(None, index=eligible.index)
    personal_ids = {c.id for c in plan.campaigns if c.send_time == PERSONAL}
    needs_hour = eligible["campaign_id"].isin(personal_ids) & eligible["channel"].isin(SCHEDULED_CHANNELS)
    if needs_hour.any() and HOUR_COLUMN not in eligible:
        raise LookupError(
            f"campaign(s) {sorted(set(eligible.loc[needs_hour, 'campaign_id']))} send at each person's "
            "best_send_hour, which marts.customer_profiles lacks (rebuild the dbt models)"
        )
    hour = (
        eligible[HOUR_COLUMN].where(needs_hour, None).astype(object)
        if HOUR_COLUMN in eligible
        else pd.Series(None, index=eligible.index, dtype=object)
    )
    columns = [
        eligible["campaign_id"].astype(str),
        eligible["channel"].astype(str),
        arm.astype(object).where(arm.notna(), None),
        pd.to_numeric(hour, errors="coerce").astype("Int64"),
    ]
    # one computation per distinct (campaign, channel, arm, hour): a million rows have a few hundred
    codes, values = zip(*(pd.factorize(c, use_na_sentinel=False) for c in columns), strict=True)
    flat = np.ravel_multi_index(codes, [len(v) for v in values])
    distinct, row_of = np.unique(flat, return_inverse=True)
    times = np.empty(len(distinct), dtype=object)
    for k, (ci, chi, ai, hi) in enumerate(
        zip(*np.unravel_index(distinct, [len(v) for v in values]), strict=True)
    ):
        c, ch, a, h = values[0][ci], values[1][chi], values[2][ai], values[3][hi]
        times[k] = scheduled_send(
            camps[c], ch, None if a is None or pd.isna(a) else a, None if pd.isna(h) else int(h), now, plan
        )
    return pd.Series(times[row_of], index=eligible.index, dtype="object")
