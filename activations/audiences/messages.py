"""The hand-off between message preparation and delivery.

`prepare_messages(...)` (in `activations.audiences.prepare`) turns the plan and the warehouse into
`PreparedCampaigns`: for every campaign of the plan, the messages to send per channel
(already suppressed, capped, holdout removed and rendered), the counts by reason, and
a rendered sample per channel. Delivery (`activations/delivery/`, `activations/channels/`)
only sends `Message`s; it never reads the plan or the profiles.

Count identity, per campaign and channel:
    audience == holdout + sum(suppressed.values()) + len(messages)
(quiet-hours SMS are in `messages` with `not_before` set; `queued` counts them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, overload

from activations.plan.spec import CHANNELS, MESSAGE_CHANNELS  # noqa: F401  (re-exported for delivery)


def send_id_for(campaign_id: str, customer_id: str, channel: str, send_date: date) -> str:
    """Deterministic id of one send: the same (campaign, customer, channel, send date) → same id."""
    raw = f"{campaign_id}|{customer_id}|{channel}|{send_date.isoformat()}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Message:
    """One message to one person on one channel on one send date (the ledger key)."""

    campaign_id: str
    customer_id: str
    channel: str  # one of CHANNELS
    send_date: date
    to: str  # email address | E.164 mobile | E.164 phone (call list) | one-line postal address | ads: email or phone
    subject: str | None = None  # email subject
    text: str | None = None  # email plain-text part | phone call script | direct-mail letter
    html: str | None = None  # email HTML part
    sms_body: str | None = None  # SMS text
    not_before: datetime | None = None  # tz-aware; set when SMS quiet hours defer the send
    # campaign_id, send_id, customer_id, channel, send_date (SendGrid custom_args, Twilio callback)
    custom_args: dict[str, str] = field(default_factory=dict)
    sender: str | None = None  # email From address | SMS sender id / messaging service (config, not secret)
    sender_name: str | None = None
    language: str = "th"  # "th" | "en": the template variant rendered
    sms_segments: int = 0  # SMS parts this body costs (UCS-2 for Thai)
    sms_encoding: str | None = None  # "GSM-7" | "UCS-2"
    unsubscribe_group: int | None = (
        None  # email: the campaign's SendGrid asm group (plan email_unsubscribe_group)
    )
    fields: dict[str, Any] = field(default_factory=dict)  # channel data: first_name, last_name, email, phone,
    # postal_code, country, address, district, province (ads matching, mail list, call list)

    @property
    def key(self) -> tuple[str, str, str, date]:
        """The send-ledger key."""
        return (self.campaign_id, self.customer_id, self.channel, self.send_date)

    @property
    def send_id(self) -> str:
        sid = self.custom_args.get("send_id")
        return sid if sid else send_id_for(self.campaign_id, self.customer_id, self.channel, self.send_date)


class MessageList(Sequence[Message]):
    """The messages of one campaign × channel, rendered on demand in chunks.

    A read-only sequence: `len()`, indexing, slicing and iteration (each pass renders again, the
    same messages in the same order), so a million recipients do not sit in memory as objects.
    Prefer iterating over materialising (`list(...)`)."""

    def __init__(self, length: int, render_range: Callable[[int, int], list[Message]], chunk: int = 2000):
        self._len = length
        self._render = render_range
        self._chunk = max(1, chunk)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Message]:
        for start in range(0, self._len, self._chunk):
            yield from self._render(start, min(start + self._chunk, self._len))

    @overload
    def __getitem__(self, i: int) -> Message: ...
    @overload
    def __getitem__(self, i: slice) -> list[Message]: ...
    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop, step = i.indices(self._len)
            if step != 1:
                return [self[k] for k in range(start, stop, step)]
            return self._render(start, stop) if start < stop else []
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError("message index out of range")
        return self._render(i, i + 1)[0]

    def __repr__(self) -> str:
        return f"MessageList(len={self._len})"


@dataclass
class ChannelBatch:
    """One campaign × channel: the messages and where the rest of the audience went."""

    campaign_id: str
    channel: str
    audience: int = 0  # rows in activations.campaign_audiences for this campaign × channel
    holdout: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)  # reason -> people
    messages: Sequence[Message] = field(default_factory=list)  # eligible, rendered (lazily: MessageList)
    queued: int = 0  # of `messages`, how many carry a quiet-hours `not_before`
    sms_segments: int = 0  # total SMS parts over `messages`
    estimated_cost: float = 0.0  # SMS: segments × price per segment (plan currency)
    sample: Message | None = None  # a rendered sample for Dagster metadata

    @property
    def eligible(self) -> int:
        return len(self.messages)

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())

    def counts_add_up(self) -> bool:
        return self.audience == self.holdout + self.suppressed_total + self.eligible

    def metadata(self) -> dict[str, Any]:
        """Plain JSON-able counts (for Dagster metadata, manifests, logs)."""
        return {
            "campaign_id": self.campaign_id,
            "channel": self.channel,
            "audience": self.audience,
            "holdout": self.holdout,
            "suppressed": dict(sorted(self.suppressed.items())),
            "suppressed_total": self.suppressed_total,
            "eligible": self.eligible,
            "queued_quiet_hours": self.queued,
            "sms_segments": self.sms_segments,
            "estimated_cost": round(self.estimated_cost, 2),
        }


@dataclass
class PreparedCampaign:
    campaign_id: str
    name: str
    active: bool  # False when send_date is outside the campaign's start/end dates
    channels: dict[str, ChannelBatch] = field(default_factory=dict)
    currency: str = "THB"

    def metadata(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "name": self.name,
            "active": self.active,
            "channels": {ch: b.metadata() for ch, b in self.channels.items()},
        }


@dataclass
class PreparedCampaigns:
    as_of: date
    send_date: date
    campaigns: dict[str, PreparedCampaign] = field(default_factory=dict)
    elapsed_seconds: float = 0.0  # audiences + suppression + counting (rendering is lazy)

    def batches(self, channel: str | None = None) -> Iterator[ChannelBatch]:
        for camp in self.campaigns.values():
            for ch, batch in camp.channels.items():
                if channel is None or ch == channel:
                    yield batch

    def withhold(self, campaign_id: str) -> None:
        """Send nothing of this campaign (e.g. live mode without an approval of its content)."""
        pc = self.campaigns[campaign_id]
        self.campaigns[campaign_id] = PreparedCampaign(
            campaign_id=pc.campaign_id, name=pc.name, active=False, currency=pc.currency
        )

    def messages(self, channel: str | None = None) -> Iterator[Message]:
        """All messages of one channel (or all channels) across campaigns, in plan order."""
        for batch in self.batches(channel):
            yield from batch.messages

    def metadata(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "send_date": self.send_date.isoformat(),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "campaigns": {cid: c.metadata() for cid, c in self.campaigns.items()},
        }
