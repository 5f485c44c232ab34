"""Activity generated to match each person's latent rank: orders, lines, web events, consents, tickets.

Vectorised: every step works on whole arrays of orders / lines / events.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote_plus

import numpy as np
import pyarrow as pa

from crmloop.demo_data import formats as F
from crmloop.demo_data.people import (
    DORMANT,
    LOYALTY,
    MARGIN_DAYS,
    NEW,
    POS,
    RANKS,
    REGULAR,
    SYSTEMS,
    VIP,
    WEB,
    Calendar,
    People,
    Records,
)
from crmloop.demo_data.pools import SEARCH_TERMS, TICKET_CATEGORIES, TICKET_SUBJECTS, Pools
from crmloop.rank_rules import assign_ranks

COUNTING, REFUNDED, CANCELLED, PRE_WINDOW = range(4)
SITE = "https://www.example-shop.co.th"


def record_index(p: People, rec: Records) -> np.ndarray:
    """(person, system) -> record row, -1 where the system does not know the person."""
    out = np.full((p.n, len(SYSTEMS)), -1, dtype=np.int64)
    out[rec.pid, rec.system] = np.arange(rec.pid.size)
    return out


def _hour_of_day(rng: np.random.Generator, n: int, web: np.ndarray) -> np.ndarray:
    """Seconds after midnight: stores open 10:00-21:00; web peaks in the evening."""
    store = 10 * 3600 + rng.random(n, dtype=np.float32) * np.float32(11 * 3600)
    web_hours = np.array(
        [1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.5, 2.5, 3, 3, 3.2, 3.5, 3, 3, 3, 3.2, 3.5, 4, 5, 6, 6, 4.5, 2.5]
    )
    h = rng.choice(24, n, p=web_hours / web_hours.sum())
    online = h * 3600 + rng.random(n, dtype=np.float32) * np.float32(3600)
    return np.where(web, online, store).astype(np.int64)


@dataclass
class Orders:
    pid: np.ndarray  # int32
    system: np.ndarray  # POS or WEB (int8)
    record: np.ndarray  # row in Records (int32)
    kind: np.ndarray  # COUNTING / REFUNDED / CANCELLED / PRE_WINDOW
    sec: np.ndarray  # ordered_at, epoch seconds (Bangkok wall clock)
    refund_sec: np.ndarray  # REFUNDED only, else -1
    duplicated: np.ndarray
    total: np.ndarray
    seq: np.ndarray  # order number within its system
    store: np.ndarray  # store number (pos)
    channel_code: np.ndarray  # 0 store, 1 web, 2 app

    def order_id(self, idx: np.ndarray) -> pa.Array:
        web = self.system[idx] == WEB
        if not web.any():
            return F.fixed_text("PO", (self.seq[idx], 10))
        if web.all():
            return F.fixed_text("WEB-", (self.seq[idx], 9))
        return F.choose(
            web.astype(np.int8),
            F.fixed_text("PO", (self.seq[idx], 10)),
            F.fixed_text("WEB-", (self.seq[idx], 9)),
        )

    def store_id(self, idx: np.ndarray) -> pa.Array:
        web = self.system[idx] == WEB
        if web.all():
            return pa.repeat(pa.scalar("ONLINE"), idx.size)
        return F.choose(web.astype(np.int8), F.fixed_text("S", (self.store[idx], 3)), pa.scalar("ONLINE"))

    def channel(self, idx: np.ndarray) -> pa.Array:
        return F.choose(self.channel_code[idx], pa.scalar("store"), pa.scalar("web"), pa.scalar("app"))


@dataclass
class Lines:
    order: np.ndarray
    line_no: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    unit_price: np.ndarray
    warranty_day: np.ndarray  # -1 = none


def make_orders(
    rng: np.random.Generator,
    p: People,
    rec: Records,
    rec_idx: np.ndarray,
    cal: Calendar,
    pools: Pools,
    orders_scale: float = 1.0,
) -> tuple[Orders, Lines]:
    n, rank = p.n, p.rank
    D = cal.as_of_day
    k = np.zeros(n, dtype=np.int64)
    k[rank == VIP] = 3 + rng.poisson(5.5, int((rank == VIP).sum()))
    k[rank == REGULAR] = 1 + rng.binomial(7, 0.35, int((rank == REGULAR).sum()))
    k[rank == NEW] = rng.choice([1, 2, 3], int((rank == NEW).sum()), p=[0.62, 0.27, 0.11])
    k[rank == DORMANT] = rng.choice([1, 2, 3], int((rank == DORMANT).sum()), p=[0.6, 0.3, 0.1])
    if orders_scale != 1.0:
        k = np.where(k > 0, np.maximum(1, np.round(k * orders_scale)).astype(np.int64), 0)

    spend = np.zeros(n)
    m = rank == VIP
    spend[m] = np.minimum(31_000 + rng.exponential(24_000, int(m.sum())), 400_000)
    m = rank == REGULAR
    spend[m] = 10_600 + 18_300 * rng.beta(3.0, 1.1, int(m.sum()))
    m = rank == NEW
    spend[m] = np.minimum(300 + rng.gamma(2.0, 1600, int(m.sum())), 9_400)
    m = rank == DORMANT
    spend[m] = 500 + rng.gamma(2.0, 2000, int(m.sum()))
    spend *= np.where(k > 0, 1.0, 0.0)

    ws = cal.window_start_day + MARGIN_DAYS
    lo_p = np.maximum(p.first_seen, ws)
    hi_p = np.full(n, D, dtype=np.int64)
    hi_p[p.lapsed] = D - 365 - MARGIN_DAYS
    dorm = rank == DORMANT
    lo_p[dorm] = p.first_seen[dorm]
    hi_p[dorm] = cal.window_start_day - MARGIN_DAYS

    # Counting orders: split each person's spend over k orders.
    owner = np.repeat(np.arange(n, dtype=np.int32), k)
    starts = np.cumsum(k) - k
    g = rng.gamma(2.0, size=owner.size)
    frac = g / np.bincount(owner, g, minlength=n)[owner]
    frac = 0.5 / k[owner] + 0.5 * frac
    amount = np.floor(spend[owner] * frac)
    lo, hi = lo_p[owner].copy(), hi_p[owner].copy()
    active_regular = (rank == REGULAR) & ~p.lapsed & (k > 0)
    first_of = starts[active_regular]
    lo[first_of] = np.maximum(lo[first_of], D - 365 + MARGIN_DAYS)
    kind = np.full(owner.size, COUNTING, dtype=np.int8)

    # Extras that must not count: refunded and cancelled orders in the window, history before it.
    buyers = np.isin(rank, [VIP, REGULAR, NEW])
    n_ref = np.where(buyers, rng.poisson(0.05 * k), 0)
    n_can = np.where(buyers, rng.poisson(0.04 * k), 0)
    pre_ok = np.isin(rank, [VIP, REGULAR]) & (p.first_seen < cal.window_start_day - MARGIN_DAYS - 30)
    n_pre = np.where(pre_ok, rng.poisson(0.8 * max(orders_scale, 0.1), n), 0)
    people_ids = np.arange(n, dtype=np.int32)
    ex_owner = np.concatenate(
        [np.repeat(people_ids, n_ref), np.repeat(people_ids, n_can), np.repeat(people_ids, n_pre)]
    )
    ex_kind = np.concatenate(
        [np.full(n_ref.sum(), REFUNDED), np.full(n_can.sum(), CANCELLED), np.full(n_pre.sum(), PRE_WINDOW)]
    ).astype(np.int8)
    ex_amount = np.floor(200 + rng.gamma(2.0, 1500, ex_owner.size))
    ex_lo = np.where(ex_kind == PRE_WINDOW, p.first_seen[ex_owner], lo_p[ex_owner])
    ex_hi = np.where(ex_kind == PRE_WINDOW, cal.window_start_day - MARGIN_DAYS, hi_p[ex_owner])

    owner = np.concatenate([owner, ex_owner])
    kind = np.concatenate([kind, ex_kind])
    amount = np.maximum(np.concatenate([amount, ex_amount]), 99)
    lo, hi = np.concatenate([lo, ex_lo]), np.concatenate([hi, ex_hi])
    day = lo + np.floor(rng.random(owner.size) * (hi - lo + 1)).astype(np.int64)
    del lo, hi, ex_lo, ex_hi, g, frac, starts, ex_owner, ex_kind, ex_amount

    has_pos = rec_idx[owner, POS] >= 0
    has_web = rec_idx[owner, WEB] >= 0
    system = np.where(
        has_pos & has_web,
        np.where(rng.random(owner.size, dtype=np.float32) < 0.6, POS, WEB),
        np.where(has_pos, POS, WEB),
    ).astype(np.int8)
    sec = day * 86400 + _hour_of_day(rng, owner.size, system == WEB)
    record = rec_idx[owner, system].astype(np.int32)
    del day, has_pos, has_web

    # Order ids increase with time within each system.
    order = np.lexsort((rng.random(owner.size, dtype=np.float32), sec))
    owner = owner[order]
    kind = kind[order]
    amount = amount[order]
    sec = sec[order]
    system = system[order]
    record = record[order]
    del order
    seq = np.zeros(owner.size, dtype=np.int64)
    for s in (POS, WEB):
        idx = np.flatnonzero(system == s)
        seq[idx] = np.arange(1, idx.size + 1) + (100_000 if s == POS else 5_000_000)
    home_store = rng.integers(1, 46, n).astype(np.int16)
    store = np.where(
        rng.random(owner.size, dtype=np.float32) < 0.8,
        home_store[owner],
        rng.integers(1, 46, owner.size).astype(np.int16),
    )
    channel = np.where(
        system == POS, 0, np.where(rng.random(owner.size, dtype=np.float32) < 0.3, 2, 1)
    ).astype(np.int8)

    end_of_day = D * 86400 + 86399
    refund_sec = np.where(
        kind == REFUNDED, np.minimum(sec + rng.integers(86400, 30 * 86400, owner.size), end_of_day), -1
    )
    duplicated = (kind == COUNTING) & (rng.random(owner.size) < 0.004)

    lines = _make_lines(rng, amount, sec // 86400, pools)
    total = np.round(np.bincount(lines.order, lines.quantity * lines.unit_price, minlength=owner.size), 2)
    orders = Orders(
        pid=owner,
        system=system,
        record=record,
        kind=kind,
        sec=sec,
        refund_sec=refund_sec,
        duplicated=duplicated,
        total=total,
        seq=seq,
        store=store,
        channel_code=channel,
    )
    return orders, lines


def _make_lines(rng: np.random.Generator, amount: np.ndarray, day: np.ndarray, pools: Pools) -> Lines:
    n = amount.size
    n_lines = rng.choice(np.array([1, 2, 3], dtype=np.int8), n, p=[0.7, 0.22, 0.08])
    n_lines = np.minimum(n_lines, np.maximum(1, amount // 150)).astype(np.int8)
    owner = np.repeat(np.arange(n, dtype=np.int32), n_lines)
    starts = np.cumsum(n_lines, dtype=np.int64) - n_lines
    line_no = (np.arange(owner.size, dtype=np.int64) - starts[owner] + 1).astype(np.int16)
    # Split each order's amount over its lines: cumulative fractions, rounded to whole baht.
    frac = rng.gamma(2.0, size=owner.size)
    frac /= np.bincount(owner, frac, minlength=n)[owner]
    frac *= 0.7
    frac += 0.3 / n_lines[owner]
    cum = np.cumsum(frac)
    cum -= (cum[starts] - frac[starts])[owner]
    del frac
    cum[line_no == n_lines[owner]] = 1.0
    cum *= amount[owner]
    bound = np.round(cum, out=cum)
    line_amount = bound.copy()
    line_amount[1:] -= bound[:-1]
    line_amount[starts] = bound[starts]
    del bound, cum, starts
    np.maximum(line_amount, 1.0, out=line_amount)

    prices = pools.products["price"]
    qty = np.where(rng.random(owner.size, dtype=np.float32) < 0.1, 2, 1).astype(np.int32)
    np.maximum(qty, np.ceil(line_amount / (prices[-1] * 1.05)).astype(np.int32), out=qty)
    unit = np.round(line_amount / qty, 2)
    del line_amount
    prod = np.searchsorted(prices, unit).astype(np.int32)
    prod += rng.integers(-3, 3, owner.size, dtype=np.int32)
    prod = np.clip(prod, 0, prices.size - 1).astype(np.int16)
    years = pools.products["warranty_years"][prod]
    warranty = np.where(years > 0, day[owner] + years * 365, -1).astype(np.int32)
    return Lines(
        order=owner, line_no=line_no, product=prod, quantity=qty, unit_price=unit, warranty_day=warranty
    )


# ---------------------------------------------------------------- web events
@dataclass
class Events:
    record: np.ndarray
    pid: np.ndarray
    sec: np.ndarray
    event_type: np.ndarray  # 0 login, 1 page_view, 2 search
    product: np.ndarray  # viewed product (page_view)
    page_kind: np.ndarray  # 0 product page, 1 category page
    term: np.ndarray  # index into SEARCH_TERMS (search)
    with_email: np.ndarray

    def event_id(self, idx: np.ndarray) -> pa.Array:
        return F.fixed_text("EV", (idx + 10_000_001, 11))

    def url(self, idx: np.ndarray, pools: Pools) -> pa.Array:
        products = pa.array(pools.products["product_id"]).take(pa.array(self.product[idx]))
        cats = pa.array(pools.products["category"]).take(pa.array(self.product[idx]))
        quoted = pa.array([quote_plus(x) for x in SEARCH_TERMS]).take(pa.array(self.term[idx]))
        page = F.choose(self.page_kind[idx], F.join(SITE + "/p/", products), F.join(SITE + "/c/", cats))
        return F.choose(
            self.event_type[idx],
            pa.scalar(SITE + "/account/login"),
            page,
            F.join(SITE + "/search?q=", quoted),
        )

    def search_term(self, idx: np.ndarray) -> pa.Array:
        return F.with_nulls(pa.array(SEARCH_TERMS).take(pa.array(self.term[idx])), self.event_type[idx] == 2)


def make_events(
    rng: np.random.Generator,
    p: People,
    rec: Records,
    rec_idx: np.ndarray,
    cal: Calendar,
    pools: Pools,
    events_scale: float = 1.0,
) -> Events:
    web_rec = rec_idx[:, WEB]
    who = np.flatnonzero(web_rec >= 0)
    lam = np.array([40, 20, 10, 3, 6], dtype=np.float64)[p.rank[who]] * events_scale
    cnt = rng.poisson(lam)
    pid = np.repeat(who, cnt).astype(np.int32)
    record = web_rec[pid].astype(np.int32)
    start = rec.reg_sec[record]
    end = cal.as_of_day * 86400 + 86399
    sec = start + np.floor(rng.random(pid.size) * (end - start + 1)).astype(np.int64)
    del start
    order = np.lexsort((rng.random(pid.size, dtype=np.float32), sec))
    pid, record, sec = pid[order], record[order], sec[order]
    del order
    m = pid.size
    etype = rng.choice(3, m, p=[0.2, 0.6, 0.2]).astype(np.int8)
    prod = rng.integers(0, len(pools.products["product_id"]), m).astype(np.int16)
    page_kind = (rng.random(m, dtype=np.float32) < 0.3).astype(np.int8)
    term = rng.integers(0, len(SEARCH_TERMS), m).astype(np.int16)
    with_email = (etype == 0) | (rng.random(m, dtype=np.float32) < 0.2)
    return Events(
        record=record,
        pid=pid,
        sec=sec,
        event_type=etype,
        product=prod,
        page_kind=page_kind,
        term=term,
        with_email=with_email,
    )


# ---------------------------------------------------------------- consents
@dataclass
class Consents:
    record: np.ndarray
    channel: np.ndarray  # index into CONSENT_CHANNELS
    opt_in: np.ndarray
    sec: np.ndarray


CONSENT_CHANNELS = ("email", "sms", "phone", "dm", "ads", "all")
_OPT_IN_P = {  # system -> channel probabilities at registration
    POS: [0.3, 0.5, 0.3, 0.4, 0.2],
    WEB: [0.75, 0.4, 0.1, 0.1, 0.5],
    LOYALTY: [0.5, 0.5, 0.2, 0.3, 0.3],
}


def make_consents(rng: np.random.Generator, rec: Records, cal: Calendar) -> Consents:
    r = rec.pid.size
    probs = np.zeros((r, 5))
    for s, pr in _OPT_IN_P.items():
        probs[rec.system == s] = pr
    grant = rng.random((r, 5)) < probs
    ri, ch = np.nonzero(grant)
    in_sec = rec.reg_sec[ri] + rng.integers(5, 600, ri.size)
    end = cal.as_of_day * 86400 + 86399
    in_sec = np.minimum(in_sec, end)
    out = rng.random(ri.size) < 0.08
    out_sec = in_sec[out] + np.floor(rng.random(int(out.sum())) * (end - in_sec[out])).astype(np.int64)
    eligible = np.flatnonzero(np.isin(rec.system, list(_OPT_IN_P)))
    all_out = eligible[rng.random(eligible.size) < 0.004]
    all_sec = rec.reg_sec[all_out] + np.floor(rng.random(all_out.size) * (end - rec.reg_sec[all_out])).astype(
        np.int64
    )
    record = np.concatenate([ri, ri[out], all_out])
    channel = np.concatenate([ch, ch[out], np.full(all_out.size, 5)])
    opt_in = np.concatenate(
        [np.ones(ri.size, bool), np.zeros(int(out.sum()), bool), np.zeros(all_out.size, bool)]
    )
    sec = np.concatenate([in_sec, out_sec, all_sec])
    order = np.lexsort((rng.random(sec.size), sec))
    return Consents(record=record[order], channel=channel[order], opt_in=opt_in[order], sec=sec[order])


# ---------------------------------------------------------------- support tickets
@dataclass
class Tickets:
    record: np.ndarray
    opened_sec: np.ndarray
    closed_sec: np.ndarray  # -1 while still open at as_of
    category: pa.Array
    subject: pa.Array
    ticket_id: pa.Array


def make_tickets(rng: np.random.Generator, p: People, rec_idx: np.ndarray, cal: Calendar) -> Tickets:
    lam = np.array([0.6, 0.3, 0.12, 0.1, 0.02])[p.rank]
    cnt = rng.poisson(lam)
    pid = np.repeat(np.arange(p.n), cnt)
    rec = np.where(rec_idx[pid, POS] >= 0, rec_idx[pid, POS], rec_idx[pid, WEB])
    keep = rec >= 0
    pid, rec = pid[keep], rec[keep]
    end = cal.as_of_day * 86400 + 86399
    start = p.first_seen[pid] * 86400
    opened = start + np.floor(rng.random(pid.size) * (end - start)).astype(np.int64)
    opened = opened // 60 * 60
    closed = opened + (rng.exponential(2.5, pid.size) * 86400).astype(np.int64) + 1800
    closed = np.where(closed <= end, closed, -1)
    order = np.lexsort((rng.random(pid.size), opened))
    rec, opened, closed = rec[order], opened[order], closed[order]
    cat = rng.integers(0, len(TICKET_CATEGORIES), rec.size)
    sub = rng.integers(0, 3, rec.size)
    subjects = pa.array([TICKET_SUBJECTS[c][j] for c in TICKET_CATEGORIES for j in range(3)])
    subject = subjects.take(pa.array(cat * 3 + sub))
    category = pa.array(TICKET_CATEGORIES).take(pa.array(cat))
    ticket_id = F.fixed_text("TK", (np.arange(1, rec.size + 1) + 200_000, 8))
    return Tickets(
        record=rec,
        opened_sec=opened,
        closed_sec=closed,
        category=category,
        subject=subject,
        ticket_id=ticket_id,
    )


def expected_ranks(p: People, o: Orders, cal: Calendar) -> dict[str, np.ndarray]:
    """The default rule set applied to the generated orders (what the warehouse must find)."""
    counted = (o.kind == COUNTING) | (o.kind == PRE_WINDOW)  # completed and never refunded
    in_window = (o.sec // 86400 >= cal.window_start_day) & (o.sec // 86400 <= cal.as_of_day)
    w = counted & in_window
    orders_3y = np.bincount(o.pid[w], minlength=p.n)
    spend_3y = np.round(np.bincount(o.pid[w], o.total[w], minlength=p.n), 2)
    ever = np.bincount(o.pid[counted], minlength=p.n)
    spend_life = np.round(np.bincount(o.pid[counted], o.total[counted], minlength=p.n), 2)
    last = np.full(p.n, -1, dtype=np.int64)
    np.maximum.at(last, o.pid[counted], o.sec[counted])
    names = assign_ranks(spend_3y, orders_3y, ever)  # the seed's rule set (crmloop/rank_rules.py)
    rank = np.full(p.n, -1, dtype=np.int64)
    for i, name in enumerate(RANKS):
        rank[names == name] = i
    if (rank < 0).any():
        raise ValueError(
            f"the rank rules name ranks the demo generator does not model: {sorted(set(names[rank < 0]))}"
        )
    return {
        "orders_3y": orders_3y,
        "spend_3y": spend_3y,
        "orders_lifetime": ever,
        "spend_lifetime": spend_life,
        "last_order_sec": last,
        "rank": rank,
    }
