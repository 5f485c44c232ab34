"""The latent truth: people, their ranks, and the source records each system holds about them.

Everything here is vectorised over people / records with numpy; nothing touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmloop.demo_data import formats as F
from crmloop.demo_data.pools import (
    EMAIL_DOMAIN_P,
    EMAIL_DOMAINS,
    LATIN_FIRST_FEMALE,
    LATIN_FIRST_MALE,
    LATIN_LAST,
    OCCUPATION_P,
    Pools,
)

RANKS = ("VIP", "Regular", "New", "Dormant", "Prospect")
VIP, REGULAR, NEW, DORMANT, PROSPECT = range(5)
# The example table (docs/DOMAIN.md) at 35,000 people, with a few Dormant taken out of New.
RANK_SHARES = np.array([2000, 5000, 19800, 200, 8000], dtype=np.float64) / 35000

SYSTEMS = ("pos", "web", "warranty", "loyalty", "dealer")
POS, WEB, WARRANTY, LOYALTY, DEALER = range(5)
ID_PREFIX = ("POS", "W", "WR", "LOY", "DL")
ID_WIDTH = (8, 9, 8, 8, 7)

JUNK_EMAILS = ("noemail@gmail.com", "no@email.com", "none@none.com", "noemail@example-shop.co.th")
JUNK_PHONES = ("0000000000", "000-000-0000")
SHOP_PHONE = "02-026-1456"
MARGIN_DAYS = 14  # orders stay this far from the window edges, so any window convention agrees


@dataclass
class Calendar:
    as_of_day: int  # days since 1970-01-01
    window_start_day: int  # as_of minus 3 years
    history_start_day: int

    @property
    def bulk_day(self) -> int:
        return self.as_of_day - 1


@dataclass
class People:
    n: int
    rank: np.ndarray
    female: np.ndarray
    first_seen: np.ndarray  # day
    lapsed: np.ndarray  # Regulars with no purchase in the last year
    birth_day: np.ndarray
    thai_first: pa.Array
    thai_last: pa.Array
    latin_first: pa.Array
    latin_last: pa.Array
    email: pa.Array  # canonical lower-case address
    mobile: np.ndarray  # 9-digit national significant number
    landline: np.ndarray  # 8-digit Bangkok number or 0
    card: pa.Array  # loyalty card id or null
    has_card: np.ndarray
    occupation: np.ndarray
    address: np.ndarray  # pool index
    n_records: np.ndarray
    transitive: np.ndarray
    systems: np.ndarray  # (n, 3) system codes, -1 unused


def _counts(n: int, shares: np.ndarray) -> np.ndarray:
    raw = shares * n
    out = np.floor(raw).astype(np.int64)
    rest = n - out.sum()
    out[np.argsort(-(raw - out), kind="stable")[:rest]] += 1
    return out


def unique_ints(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    """n distinct integers in [low, high), in random order, deterministic for the generator."""
    got = np.empty(0, dtype=np.int64)
    while got.size < n:
        cand = np.concatenate([got, rng.integers(low, high, size=int((n - got.size) * 1.1) + 16)])
        _, first = np.unique(cand, return_index=True)
        got = cand[np.sort(first)]
    return got[:n]


def make_people(rng: np.random.Generator, n: int, cal: Calendar, pools: Pools) -> People:
    rank = rng.permutation(np.repeat(np.arange(5), _counts(n, RANK_SHARES)))
    female = rng.random(n) < 0.52
    lapsed = (rank == REGULAR) & (rng.random(n) < 0.6)

    latest = np.full(n, cal.as_of_day, dtype=np.int64)
    latest[rank == VIP] = cal.as_of_day - 120
    latest[(rank == REGULAR) & ~lapsed] = cal.as_of_day - 30
    latest[lapsed] = cal.as_of_day - 365 - 60
    latest[rank == DORMANT] = cal.window_start_day - 60
    span = latest - cal.history_start_day + 1
    first_seen = cal.history_start_day + np.floor(rng.random(n) * span).astype(np.int64)

    age_days = rng.integers(18 * 365, 76 * 365, size=n)
    birth_day = cal.as_of_day - age_days

    tm, tf, tl = pools.thai_first_male, pools.thai_first_female, pools.thai_last
    thai_first = np.where(
        female,
        np.array(tf, dtype=object)[rng.integers(0, len(tf), n)],
        np.array(tm, dtype=object)[rng.integers(0, len(tm), n)],
    )
    thai_last = np.array(tl, dtype=object)[rng.integers(0, len(tl), n)]
    lf = np.where(
        female,
        np.array(LATIN_FIRST_FEMALE, dtype=object)[rng.integers(0, len(LATIN_FIRST_FEMALE), n)],
        np.array(LATIN_FIRST_MALE, dtype=object)[rng.integers(0, len(LATIN_FIRST_MALE), n)],
    )
    ll = np.array(LATIN_LAST, dtype=object)[rng.integers(0, len(LATIN_LAST), n)]
    latin_first, latin_last = pa.array(lf, pa.string()), pa.array(ll, pa.string())

    # Unique e-mail addresses: the numeric suffix is unique per person.
    suffix = rng.permutation(n) + 7
    sep = F.choose(rng.choice(3, n, p=[0.5, 0.3, 0.2]), pa.scalar("."), pa.scalar("_"), pa.scalar(""))
    lower_last = pc.utf8_lower(latin_last)
    last_part = F.choose(rng.choice(2, n, p=[0.4, 0.6]), lower_last, F.slice_(lower_last, 0, 1))
    domain = pa.array(
        np.array(EMAIL_DOMAINS, dtype=object)[rng.choice(len(EMAIL_DOMAINS), n, p=EMAIL_DOMAIN_P)],
        pa.string(),
    )
    email = F.join(pc.utf8_lower(latin_first), sep, last_part, F.s(suffix), "@", domain)

    # Unique mobile numbers 06x/08x/09x-xxx-xxxx: one draw from the joint space keeps them distinct.
    u = unique_ints(rng, 0, 300_000_000, n)
    mobile = np.array([6, 8, 9])[u // 100_000_000] * 100_000_000 + u % 100_000_000
    has_land = rng.random(n) < 0.12
    landline = np.zeros(n, dtype=np.int64)
    landline[has_land] = 20_000_000 + unique_ints(rng, 0, 10_000_000, int(has_land.sum()))

    occupation = rng.choice(len(OCCUPATION_P), n, p=OCCUPATION_P / OCCUPATION_P.sum())
    address = rng.integers(0, len(pools.street), n)

    # Which systems know each person: 1-3 of them, buyers always through pos or web.
    buyer = rank != PROSPECT
    w_buyer = np.array([0.45, 0.35, 0.12, 0.06, 0.02])
    w_prospect = np.array([0.1, 0.55, 0.05, 0.2, 0.1])
    logw = np.where(buyer[:, None], np.log(w_buyer)[None, :], np.log(w_prospect)[None, :])
    keys = logw + rng.gumbel(size=(n, 5))
    order = np.argsort(-keys, axis=1, kind="stable")[:, :3]
    n_records = np.where(
        buyer, rng.choice([1, 2, 3], n, p=[0.4, 0.4, 0.2]), rng.choice([1, 2, 3], n, p=[0.75, 0.2, 0.05])
    )
    systems = np.where(np.arange(3)[None, :] < n_records[:, None], order, -1)
    has_pw = ((systems == POS) | (systems == WEB)).any(axis=1)
    fix = buyer & ~has_pw
    systems[fix, 0] = np.where(rng.random(int(fix.sum())) < 0.55, POS, WEB)

    has_card = (systems == LOYALTY).any(axis=1) | (((systems == POS).any(axis=1)) & (rng.random(n) < 0.3))
    card_no = 1_000_000_000 + unique_ints(rng, 0, 9_000_000_000, n)
    card = F.with_nulls(F.fixed_text("LC", (card_no, 10)), has_card)

    third_not_web = (systems[:, 2] != WEB) & (systems[:, 2] >= 0)
    transitive = (n_records == 3) & third_not_web & (rng.random(n) < 0.35)

    return People(
        n=n,
        rank=rank,
        female=female,
        first_seen=first_seen,
        lapsed=lapsed,
        birth_day=birth_day,
        thai_first=pa.array(thai_first, pa.string()),
        thai_last=pa.array(thai_last, pa.string()),
        latin_first=latin_first,
        latin_last=latin_last,
        email=email,
        mobile=mobile,
        landline=landline,
        card=card,
        has_card=has_card,
        occupation=occupation,
        address=address,
        n_records=n_records,
        transitive=transitive,
        systems=systems,
    )


@dataclass
class Records:
    """One row per (person, system) source record, with the values that system shows."""

    pid: np.ndarray
    system: np.ndarray
    position: np.ndarray
    source_id: pa.Array
    reg_sec: np.ndarray
    upd_sec: np.ndarray
    show_email: np.ndarray
    show_mobile: np.ndarray
    show_card: np.ndarray
    show_landline: np.ndarray
    email_display: pa.Array  # null when not shown (junk included)
    phone_display: pa.Array
    junk_email: np.ndarray
    junk_phone: np.ndarray
    shop_phone: np.ndarray


def make_records(rng: np.random.Generator, p: People, cal: Calendar) -> Records:
    n = p.n
    c = p.n_records
    pid = np.repeat(np.arange(n), c)
    position = np.arange(pid.size) - np.repeat(np.cumsum(c) - c, c)
    system = p.systems[pid, position]
    r = pid.size

    base_email = np.array([0.4, 1.0, 0.3, 0.5, 0.4])[system]
    base_mobile = np.array([0.85, 0.55, 0.95, 0.9, 0.8])[system]
    show_email = rng.random(r) < base_email
    show_mobile = rng.random(r) < base_mobile
    card_ok = p.has_card[pid] & ((system == POS) | (system == LOYALTY))
    show_card = card_ok & ((system == LOYALTY) | (rng.random(r) < 0.7))

    # Chain links: record j and j+1 of a person share one identifier (email, mobile or card).
    link = rng.choice(3, size=(n, 2), p=[0.45, 0.45, 0.1])  # 0 email, 1 mobile, 2 card
    sysn = p.systems
    for j in range(2):
        both_card = p.has_card & np.isin(sysn[:, j], [POS, LOYALTY]) & np.isin(sysn[:, j + 1], [POS, LOYALTY])
        link[(link[:, j] == 2) & ~both_card, j] = 1
    link[p.transitive, 0] = 0
    link[p.transitive, 1] = 1
    nxt = np.where(position < c[pid] - 1, link[pid, np.minimum(position, 1)], -1)
    prv = np.where(position > 0, link[pid, np.maximum(position - 1, 0)], -1)
    forced_email = (nxt == 0) | (prv == 0)
    forced_mobile = (nxt == 1) | (prv == 1)
    forced_card = (nxt == 2) | (prv == 2)
    show_email |= forced_email | (system == WEB)
    show_mobile |= forced_mobile
    show_card |= forced_card
    # Transitive-only people: the first record has no mobile or card, the third no email or card.
    t = p.transitive[pid]
    first_t, third_t = t & (position == 0), t & (position == 2)
    show_mobile[first_t] = False
    show_card[(first_t | third_t) & (system != LOYALTY)] = False  # a loyalty record always shows its card
    show_email[third_t] = False

    show_landline = (~show_mobile) & (p.landline[pid] > 0) & (rng.random(r) < 0.6) & ~(first_t | third_t)

    # Source ids: numbered per system in a random order.
    source_id = _source_ids(rng, system)

    # Registration: buyers' pos/web records at first_seen; other records some time later.
    reg_day = p.first_seen[pid].copy()
    later = (position > 0) & ~((p.rank[pid] != PROSPECT) & np.isin(system, [POS, WEB]))
    delay = np.floor(rng.exponential(250, r)).astype(np.int64)
    spread = reg_day + np.floor(rng.random(r) * (cal.as_of_day - reg_day + 1)).astype(np.int64)
    late = reg_day + delay
    reg_day = np.where(later, np.where(late <= cal.as_of_day, late, spread), reg_day)
    hour = np.where(system == POS, 10 + rng.random(r) * 11, rng.random(r) * 24)
    reg_sec = reg_day * 86400 + (hour * 3600).astype(np.int64)
    updated = rng.random(r) < 0.3
    upd_day = reg_day + np.floor(rng.random(r) * np.maximum(cal.bulk_day - reg_day, 0)).astype(np.int64)
    upd_sec = np.where(
        updated & (reg_day < cal.as_of_day), upd_day * 86400 + rng.integers(28800, 72000, r), reg_sec
    )
    upd_sec = np.maximum(upd_sec, reg_sec)

    # Displayed values.
    email = p.email.take(pa.array(pid))
    email_style = rng.choice(5, r, p=[0.5, 0.15, 0.15, 0.1, 0.1])
    email_display = F.vary_email(email, email_style)
    phone_style = _phone_styles(rng, system)
    mobile_display = F.format_mobile(p.mobile[pid], phone_style)
    land_display = F.format_landline(np.where(p.landline[pid] > 0, p.landline[pid], 20_000_000))

    # Junk identifiers, only where the record shows no real one of that kind.
    junk_email = (~show_email) & (system != WEB) & (rng.random(r) < 0.05)
    junk_phone = (~show_mobile) & (~show_landline) & (rng.random(r) < 0.1)
    pos_free = np.flatnonzero((system == POS) & ~forced_mobile & ~junk_phone)
    n_shop = min(pos_free.size, max(25, int(round(0.002 * r))))
    shop_phone = np.zeros(r, dtype=bool)
    shop_phone[rng.choice(pos_free, n_shop, replace=False)] = True
    show_mobile &= ~shop_phone
    show_landline &= ~shop_phone

    junk_e = pa.array(np.array(JUNK_EMAILS, dtype=object)[rng.integers(0, len(JUNK_EMAILS), r)], pa.string())
    junk_p = pa.array(np.array(JUNK_PHONES, dtype=object)[rng.integers(0, len(JUNK_PHONES), r)], pa.string())
    email_display = pc.if_else(
        pa.array(show_email),
        email_display,
        pc.if_else(pa.array(junk_email), junk_e, pa.scalar(None, pa.string())),
    )
    phone_display = pc.if_else(
        pa.array(show_mobile),
        mobile_display,
        pc.if_else(
            pa.array(show_landline),
            land_display,
            pc.if_else(
                pa.array(shop_phone),
                pa.scalar(SHOP_PHONE),
                pc.if_else(pa.array(junk_phone), junk_p, pa.scalar(None, pa.string())),
            ),
        ),
    )
    return Records(
        pid=pid,
        system=system,
        position=position,
        source_id=source_id,
        reg_sec=reg_sec,
        upd_sec=upd_sec,
        show_email=show_email,
        show_mobile=show_mobile,
        show_card=show_card,
        show_landline=show_landline,
        email_display=email_display,
        phone_display=phone_display,
        junk_email=junk_email,
        junk_phone=junk_phone,
        shop_phone=shop_phone,
    )


def _phone_styles(rng: np.random.Generator, system: np.ndarray) -> np.ndarray:
    # PHONE_STYLES: dashed, plain, intl_spaced, intl_plain, spaced
    probs = np.array(
        [
            [0.55, 0.45, 0.0, 0.0, 0.0],  # pos
            [0.0, 0.5, 0.4, 0.1, 0.0],  # web
            [0.1, 0.2, 0.0, 0.4, 0.3],  # warranty
            [0.5, 0.3, 0.2, 0.0, 0.0],  # loyalty
            [0.2, 0.2, 0.2, 0.2, 0.2],  # dealer
        ]
    )
    cum = np.cumsum(probs, axis=1)[system]
    u = rng.random(system.size)[:, None]
    return np.minimum((u >= cum).sum(axis=1), 4)


def _source_ids(rng: np.random.Generator, system: np.ndarray) -> pa.Array:
    seq = np.zeros(system.size, dtype=np.int64)
    for s in range(len(SYSTEMS)):
        idx = np.flatnonzero(system == s)
        seq[idx] = rng.permutation(idx.size) + 1
    pieces, order = [], []
    for s in range(len(SYSTEMS)):
        idx = np.flatnonzero(system == s)
        pieces.append(F.fixed_text(ID_PREFIX[s], (seq[idx], ID_WIDTH[s])))
        order.append(idx)
    flat = pa.concat_arrays(pieces)
    inverse = np.empty(system.size, dtype=np.int64)
    inverse[np.concatenate(order)] = np.arange(system.size)
    return flat.take(pa.array(inverse))
