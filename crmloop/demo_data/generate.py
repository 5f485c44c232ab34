"""`generate()`: simulate the retailer and write its source extracts into a landing directory."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmloop.demo_data import formats as F
from crmloop.demo_data.activity import (
    CANCELLED,
    CONSENT_CHANNELS,
    REFUNDED,
    Consents,
    Events,
    Lines,
    Orders,
    Tickets,
    expected_ranks,
    make_consents,
    make_events,
    make_orders,
    make_tickets,
    record_index,
)
from crmloop.demo_data.people import (
    DEALER,
    LOYALTY,
    POS,
    PROSPECT,
    RANKS,
    SYSTEMS,
    WARRANTY,
    WEB,
    Calendar,
    People,
    Records,
    make_people,
    make_records,
)
from crmloop.demo_data.pools import OCCUPATIONS_EN, OCCUPATIONS_TH, Pools, draw_pools
from crmloop.rank_rules import window_months
from crmloop.settings import default_as_of

CUSTOMER_COLUMNS = [
    "source_system",
    "source_customer_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "gender",
    "birth_date",
    "occupation",
    "address",
    "district",
    "province",
    "postal_code",
    "country",
    "loyalty_card_id",
    "registered_at",
    "updated_at",
]
# The dealer's own export headers, in file order, with the canonical column each one means.
DEALER_HEADERS = [
    ("รหัสลูกค้า", "source_customer_id"),
    ("ชื่อ", "first_name"),
    ("นามสกุล", "last_name"),
    ("อีเมล", "email"),
    ("เบอร์โทร", "phone"),
    ("เพศ", "gender"),
    ("วันเกิด", "birth_date"),
    ("อาชีพ", "occupation"),
    ("ที่อยู่", "address"),
    ("อำเภอ/เขต", "district"),
    ("จังหวัด", "province"),
    ("รหัสไปรษณีย์", "postal_code"),
    ("Member Card", "loyalty_card_id"),
    ("Register Date", "registered_at"),
    ("Last Update", "updated_at"),
]
BROKEN_SHARE = 0.005
Progress = Callable[[str], None]


@dataclass
class DemoSummary:
    out: Path
    truth_dir: Path
    as_of: date
    customers: int
    seed: int
    files: list[dict] = field(
        default_factory=list
    )  # path (relative to out), source, partition, format, rows, bytes
    people_by_rank: dict[str, int] = field(default_factory=dict)
    sales_by_rank: dict[str, float] = field(default_factory=dict)
    broken_rows: int = 0
    nulled_fields: int = 0
    seconds: float = 0.0

    @property
    def rows_per_source(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f["source"]] = out.get(f["source"], 0) + f["rows"]
        return out

    @property
    def partitions(self) -> list[str]:
        return sorted({f["partition"] for f in self.files})

    def describe(self) -> str:
        lines = [
            f"demo data: {self.customers:,} people, seed {self.seed}, as of {self.as_of}, "
            f"{self.seconds:.1f}s -> {self.out}",
            f"partitions: {', '.join(self.partitions)}; truth: {self.truth_dir}",
            "files:",
        ]
        for f in self.files:
            lines.append(
                f"  {f['path']:<58} {f['format']:<14} {f['rows']:>10,} rows {f['bytes'] / 1e6:>9.2f} MB"
            )
        lines.append("rows per source: " + ", ".join(f"{k} {v:,}" for k, v in self.rows_per_source.items()))
        lines.append(f"broken rows (must be quarantined): {self.broken_rows:,}")
        lines.append(
            f"unparseable fields of real records (must be nulled and flagged): {self.nulled_fields:,}"
        )
        lines.append("people by latent rank (3-year window):")
        for r in RANKS:
            lines.append(
                f"  {r:<9} {self.people_by_rank.get(r, 0):>9,}   sales {self.sales_by_rank.get(r, 0.0):>16,.0f} THB"
            )
        return "\n".join(lines)


def _release() -> None:
    """Hand memory Arrow's allocator keeps cached back to the OS, so stages' peaks do not stack."""
    pa.default_memory_pool().release_unused()


def _minus_months(d: date, months: int) -> date:
    """d minus whole months, the day clamped to the month's end (as the warehouse's add_months)."""
    y, m = divmod(d.year * 12 + d.month - 1 - months, 12)
    return date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def _day(d: date) -> int:
    return (d - date(1970, 1, 1)).days


@dataclass(frozen=True)
class SignupDrive:
    """A sign-up drive (a fair, an in-store promotion): `share` of the prospects (people who
    never buy) register on days drawn at random from `first` .. `last` instead of across the
    history. Off by default; `crmloop demo` runs one in the week before its first day, so the
    welcome campaign has a cohort large enough to judge (DEMO_SIGNUP_SHARE)."""

    first: date
    last: date
    share: float

    def apply(self, people: People, cal: Calendar, rng: np.random.Generator) -> int:
        """Move the chosen prospects' first day onto the drive; returns how many moved."""
        if not 0 <= self.share <= 1:
            raise ValueError(f"SignupDrive.share must be between 0 and 1, not {self.share}")
        lo, hi = _day(self.first), _day(self.last)
        if not lo <= hi <= cal.as_of_day:
            raise ValueError(f"SignupDrive {self.first} .. {self.last}: first <= last <= as_of is required")
        prospects = np.flatnonzero(people.rank == PROSPECT)
        chosen = np.sort(rng.choice(prospects, round(self.share * prospects.size), replace=False))
        people.first_seen[chosen] = lo + rng.integers(0, hi - lo + 1, chosen.size)
        return int(chosen.size)


# the demo's drive: about 2,000 of a 35,000-person retailer's 8,000 prospects sign up in its week (a
# trade fair), so the welcome email's first cohort is large enough for its causes to show
DEMO_SIGNUP_SHARE = 0.25


def demo_calendar(as_of: date) -> Calendar:
    """The generated history's days: the seed's rank window up to `as_of`, and 400 days before it."""
    window_start = _minus_months(as_of, window_months())
    return Calendar(
        as_of_day=_day(as_of), window_start_day=_day(window_start), history_start_day=_day(window_start) - 400
    )


@dataclass(frozen=True)
class _Partition:
    """One landing partition: the folder `date` holds the activity of days first..last (days since 1970).

    The bulk holds all history before the first daily day (first is unbounded); each daily
    partition holds one day (first == last == its date)."""

    date: date
    first: int
    last: int

    @property
    def daily(self) -> bool:
        return self.first == self.last

    @property
    def end_sec(self) -> int:
        return self.last * 86400 + 86399

    def holds(self, day: np.ndarray) -> np.ndarray:
        return (day >= self.first) & (day <= self.last)


def _partitions(as_of: date, days: int) -> list[_Partition]:
    """The bulk (dated as_of - days: everything before the first daily day), then the days
    as_of - days + 1 ... as_of, one partition each."""
    first_daily = _day(as_of) - days + 1
    bulk = _Partition(as_of - timedelta(days=days), -(2**62), first_daily - 1)
    return [bulk] + [
        _Partition(as_of - timedelta(days=days - i), first_daily + i - 1, first_daily + i - 1)
        for i in range(1, days + 1)
    ]


def _partition_end_sec(parts: list[_Partition], day: np.ndarray) -> np.ndarray:
    """The last second of the partition each day falls in (days up to the last partition's)."""
    lasts = np.array([p.last for p in parts], dtype=np.int64)
    return lasts[np.searchsorted(lasts, day)] * 86400 + 86399


class _Writer:
    """Writes files into <out>/<source>/<partition>/ and keeps the summary and broken-row manifest."""

    def __init__(
        self, out: Path, rng: np.random.Generator, summary: DemoSummary, progress: Progress, part_rows: int
    ):
        self.out, self.rng, self.summary, self.progress = out, rng, summary, progress
        self.part_rows = part_rows
        self.broken: list[tuple[str, int, str]] = []
        # (file, row_number, column, reason) of the values written unparseable into real records
        self.nulled: list[tuple[str, int, str, str]] = []
        self._serial = 900_000_000

    def fresh(self, k: int) -> np.ndarray:
        out = np.arange(self._serial, self._serial + k)
        self._serial += k
        return out

    def inject(self, table: pa.Table, rel: str, kinds: list[tuple[str, Callable]]) -> pa.Table:
        n = table.num_rows
        nb = 0 if n < 50 or not kinds else max(len(kinds), int(round(n * BROKEN_SHARE)))
        if nb == 0:
            return table
        tmpl = np.sort(self.rng.choice(n, nb, replace=False))
        kind_of = self.rng.permutation(np.arange(nb) % len(kinds))
        parts, reasons, in_place = [], [], []
        original = table
        for ki, kind in enumerate(kinds):
            sel = tmpl[kind_of == ki]
            if isinstance(kind, _Nulled):  # the template rows themselves get the bad value
                self.fresh(sel.size)  # serials drawn as before: later files' fresh ids unchanged
                table = kind.apply(table, sel)
                in_place.append((sel, kind))
                continue
            reason, fn = kind
            parts.append(fn(original.take(pa.array(sel)), self.fresh(sel.size)))
            reasons += [reason] * sel.size
        at = self.rng.integers(0, n + 1, nb)[: len(reasons)]
        nb = len(reasons)
        keys = np.concatenate([np.arange(n) * 2 + 1, at * 2])
        order = np.argsort(keys, kind="stable")
        where = np.empty(n + nb, dtype=np.int64)
        where[order] = np.arange(n + nb)
        for row, reason in zip(where[n:] + 1, reasons, strict=True):
            self.broken.append((rel, int(row), reason))
        for sel, kind in in_place:
            for row in np.sort(where[sel]) + 1:
                self.nulled.append((rel, int(row), kind.column, f"unparseable {kind.column}"))
        if not parts:
            return table
        return pa.concat_tables([table, *parts]).take(pa.array(order))

    def emit(
        self,
        source: str,
        partition: date,
        name: str,
        fmt: str,
        table: pa.Table | None = None,
        kinds: list | None = None,
        xlsx: dict | None = None,
        n_rows: int | None = None,
        build: Callable[[int, int], pa.Table] | None = None,
    ) -> None:
        """Write one file, or with `build` (rows a..b -> table) as many parts of `part_rows` as needed."""
        if xlsx is not None:
            rel = f"{source}/{partition.isoformat()}/{name}"
            size = F.write_xlsx(
                xlsx["header"], xlsx["columns"], xlsx["kinds"], self.out / rel, sheet=xlsx["sheet"]
            )
            self._record(rel, source, partition, fmt, len(xlsx["columns"][0]), size)
            return
        if build is None:
            self._write_one(source, partition, name, fmt, table, kinds)
            return
        nparts = max(1, -(-n_rows // self.part_rows))
        stem, dot, suffix = name.rpartition(".")
        for i in range(nparts):
            a, b = i * self.part_rows, min(n_rows, (i + 1) * self.part_rows)
            part_name = name if nparts == 1 else f"{stem}-{i + 1:04d}{dot}{suffix}"
            self._write_one(source, partition, part_name, fmt, build(a, b), kinds)

    def _write_one(self, source: str, partition: date, name: str, fmt: str, table: pa.Table, kinds) -> None:
        rel = f"{source}/{partition.isoformat()}/{name}"
        path = self.out / rel
        table = self.inject(table, rel, kinds or [])
        if fmt.startswith("csv"):
            enc = {"csv-cp874": "cp874", "csv-utf8-bom": "utf-8", "csv-utf8": "utf-8"}[fmt]
            size = F.write_csv(table, path, encoding=enc, bom=fmt == "csv-utf8-bom")
        elif fmt == "jsonl":
            size = F.write_jsonl(table, path)
        elif fmt == "parquet":
            size = F.write_parquet(table, path)
        else:
            raise ValueError(f"unknown format {fmt!r} for {rel}")
        self._record(rel, source, partition, fmt, table.num_rows, size)

    def _record(self, rel: str, source: str, partition: date, fmt: str, rows: int, size: int) -> None:
        self.summary.files.append(
            {
                "path": rel,
                "source": source,
                "partition": partition.isoformat(),
                "format": fmt,
                "rows": rows,
                "bytes": size,
            }
        )
        _release()
        self.progress(f"wrote {rel} ({rows:,} rows)")


def _set(table: pa.Table, name: str, values) -> pa.Table:
    i = table.schema.get_field_index(name)
    arr = values if isinstance(values, pa.Array) else pa.array(values, table.schema.field(i).type)
    return table.set_column(i, name, arr.cast(table.schema.field(i).type))


def _const(n: int, value: str) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), n)


def _fresh_id(column: str, prefix: str) -> Callable:
    """A broken row's id: `prefix` + its serial (a prefix no real id has, so it never collides)."""
    return lambda t, serial: _set(t, column, F.join(prefix, F.s(serial)))


def _unparseable(column: str, value: str, *, id_column: str, prefix: str) -> tuple[str, Callable]:
    """The broken-row kind "unparseable <column>": a fresh id and `value` in `column`."""
    fresh = _fresh_id(id_column, prefix)
    return (f"unparseable {column}", lambda t, s: _set(fresh(t, s), column, _const(t.num_rows, value)))


@dataclass(frozen=True)
class _Nulled:
    """The kind "unparseable <column>" of a field that does not cost its row: `value` is written
    into `column` of real records (no fresh id); ingestion loads them with the field null and
    flagged (sources.schema.NULLED_FIELDS), and the truth lists them (`nulled_fields.parquet`)."""

    column: str
    value: str

    def apply(self, table: pa.Table, rows: np.ndarray) -> pa.Table:
        i = table.schema.get_field_index(self.column)
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[rows] = True
        col = table.column(i).cast(pa.string())
        arr = pc.if_else(pa.array(mask), pa.scalar(self.value, pa.string()), col)
        return table.set_column(i, self.column, arr)


def generate(
    customers: int = 35_000,
    seed: int = 42,
    out: Path | str = Path("data/landing"),
    as_of: date | None = None,
    *,
    truth_dir: Path | str | None = None,
    orders_scale: float = 1.0,
    events_scale: float = 1.0,
    part_rows: int = 2_000_000,
    days: int = 1,
    signup_drive: SignupDrive | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Simulate `customers` people of a Thai appliance retailer and write their extracts.

    Writes `<out>/<source>/<as_of-days>/...` (the bulk: all history up to and including
    as_of-days) and, for each of the `days` days as_of-days+1 ... as_of, `<out>/<source>/<day>/...`
    (that day's new activity: registrations, updated customer records, orders, lines, events,
    consents, tickets); the simulation and expected ranks are as of `as_of` whatever `days` is.
    It also writes the latent truth (people, source records, broken rows) as Parquet under
    `truth_dir` (default `<out>/../demo_truth`).
    `orders_scale` multiplies every person's number of orders (ranks then follow the orders; the
    calibrated shares hold at 1.0); `events_scale` multiplies web events. Large extracts (orders,
    order_lines, web_events) are split into files of at most `part_rows` rows
    (`name-0001.ext`, `name-0002.ext`, ... in time order). `signup_drive` registers a share of the
    prospects on a few recent days (its own random stream: without it the output is unchanged)."""
    if customers < 1:
        raise ValueError(f"customers must be at least 1, not {customers}")
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    t0 = time.monotonic()
    progress = progress or (lambda _msg: None)
    as_of = as_of or default_as_of()
    out = Path(out)
    truth = Path(truth_dir) if truth_dir else out.resolve().parent / "demo_truth"
    cal = demo_calendar(as_of)
    seeds = np.random.SeedSequence(seed).spawn(8)
    rngs = [np.random.default_rng(s) for s in seeds]

    pools = draw_pools(seed)
    progress("drawing people")
    people = make_people(rngs[0], customers, cal, pools)
    if signup_drive is not None:
        moved = signup_drive.apply(
            people, cal, np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(8,)))
        )
        progress(f"sign-up drive {signup_drive.first} .. {signup_drive.last}: {moved:,} prospects register")
    rec = make_records(rngs[1], people, cal)
    rec_idx = record_index(people, rec)
    _release()
    progress(f"{customers:,} people, {rec.pid.size:,} source records; drawing orders")
    orders, lines = make_orders(rngs[2], people, rec, rec_idx, cal, pools, orders_scale)
    _release()
    progress(f"{orders.pid.size:,} orders, {lines.order.size:,} lines; drawing web events")
    events = make_events(rngs[3], people, rec, rec_idx, cal, pools, events_scale)
    consents = make_consents(rngs[4], rec, cal)
    tickets = make_tickets(rngs[5], people, rec_idx, cal)
    exp = expected_ranks(people, orders, cal)

    summary = DemoSummary(out=out, truth_dir=truth, as_of=as_of, customers=customers, seed=seed)
    w = _Writer(out, rngs[6], summary, progress, part_rows)
    fmt_rng = rngs[7]
    parts = _partitions(as_of, days)

    _write_customers(w, fmt_rng, people, rec, pools, parts)
    _write_orders(w, orders, rec, parts)
    _write_lines(w, orders, lines, pools, parts)
    _write_products(w, pools, parts)
    _write_events(w, events, rec, people, pools, parts)
    _write_consents(w, consents, rec, parts)
    _write_tickets(w, tickets, rec, people, parts)

    for i, name in enumerate(RANKS):
        m = exp["rank"] == i
        summary.people_by_rank[name] = int(m.sum())
        summary.sales_by_rank[name] = float(np.round(exp["spend_3y"][m].sum(), 2))
    summary.broken_rows = len(w.broken)
    summary.nulled_fields = len(w.nulled)
    _write_truth(truth, people, rec, exp, w.broken, orders, w.nulled)
    summary.seconds = time.monotonic() - t0
    progress(f"done in {summary.seconds:.1f}s")
    return summary


# ---------------------------------------------------------------- customers
def _customer_table(
    rng: np.random.Generator,
    sysc: int,
    idx: np.ndarray,
    p: People,
    rec: Records,
    pools: Pools,
    address: np.ndarray | None = None,
    upd_sec: np.ndarray | None = None,
) -> dict:
    """The columns one system shows for records idx (values formatted the way that system writes them)."""
    n = idx.size
    pid = rec.pid[idx]
    female = p.female[pid]
    addr = p.address[pid] if address is None else address
    upd = rec.upd_sec[idx] if upd_sec is None else upd_sec
    reg = rec.reg_sec[idx]
    tpid = pa.array(pid)
    thai_first, thai_last = p.thai_first.take(tpid), p.thai_last.take(tpid)
    street = pa.array(pools.street).take(pa.array(addr))
    district = pa.array(pools.district).take(pa.array(addr))
    province = pa.array(pools.province).take(pa.array(addr))
    postcode = pa.array(pools.postcode).take(pa.array(addr))
    occ_th = pa.array(OCCUPATIONS_TH).take(pa.array(p.occupation[pid]))
    occ_en = pa.array(OCCUPATIONS_EN).take(pa.array(p.occupation[pid]))
    birth = p.birth_day[pid]
    card = F.with_nulls(p.card.take(tpid), rec.show_card[idx])
    cols = {
        "source_system": _const(n, SYSTEMS[sysc]),
        "source_customer_id": rec.source_id.take(pa.array(idx)),
        "first_name": thai_first,
        "last_name": thai_last,
        "email": rec.email_display.take(pa.array(idx)),
        "phone": rec.phone_display.take(pa.array(idx)),
    }
    mf = F.choose(female.astype(np.int8), pa.scalar("M"), pa.scalar("F"))
    has_addr = np.ones(n, dtype=bool)
    if sysc == POS:
        cols["gender"] = F.with_nulls(mf, rng.random(n) < 0.9)
        cols["birth_date"] = F.with_nulls(F.be_date(birth), rng.random(n) < 0.7)
        cols["occupation"] = F.with_nulls(occ_th, rng.random(n) < 0.6)
        cols["registered_at"], cols["updated_at"] = F.be_datetime(reg), F.be_datetime(upd)
    elif sysc == WEB:
        latin = rng.random(n) < 0.6
        cols["first_name"] = pc.if_else(pa.array(latin), p.latin_first.take(tpid), thai_first)
        cols["last_name"] = pc.if_else(pa.array(latin), p.latin_last.take(tpid), thai_last)
        cols["gender"] = F.with_nulls(
            F.choose(female.astype(np.int8), pa.scalar("male"), pa.scalar("female")), rng.random(n) < 0.8
        )
        cols["birth_date"] = F.with_nulls(F.iso_date(birth), rng.random(n) < 0.5)
        cols["occupation"] = F.with_nulls(occ_en, rng.random(n) < 0.6)
        has_addr = rng.random(n) < 0.5
        cols["registered_at"], cols["updated_at"] = F.iso_ts(reg, "T"), F.iso_ts(upd, "T")
    elif sysc == WARRANTY:
        cols["gender"] = F.with_nulls(mf, rng.random(n) < 0.7)
        serial = np.floor(F.excel_serial(birth * 86400)).astype(np.int64)
        cols["birth_date"] = pa.array(serial, pa.int64(), mask=~(rng.random(n) < 0.4))
        cols["occupation"] = F.with_nulls(occ_th, rng.random(n) < 0.5)
        cols["registered_at"] = pa.array(F.excel_serial(reg))
        cols["updated_at"] = pa.array(F.excel_serial(upd))
    elif sysc == LOYALTY:
        cols["gender"] = F.with_nulls(mf, rng.random(n) < 0.85)
        ce = F.ce_date(birth)
        cols["birth_date"] = F.with_nulls(ce, rng.random(n) < 0.6)
        cols["occupation"] = F.with_nulls(occ_th, rng.random(n) < 0.4)
        has_addr = rng.random(n) < 0.7
        cols["registered_at"], cols["updated_at"] = F.iso_ts(reg), F.iso_ts(upd)
    else:  # dealer
        cols["gender"] = F.with_nulls(
            F.choose(female.astype(np.int8), pa.scalar("ชาย"), pa.scalar("หญิง")), rng.random(n) < 0.8
        )
        cols["birth_date"] = F.with_nulls(F.ts_array(birth * 86400), rng.random(n) < 0.5)
        cols["occupation"] = F.with_nulls(occ_th, rng.random(n) < 0.5)
        cols["registered_at"], cols["updated_at"] = F.ts_array(reg), F.ts_array(upd)
    cols["address"] = F.with_nulls(street, has_addr)
    cols["district"] = F.with_nulls(district, has_addr)
    cols["province"] = F.with_nulls(province, has_addr)
    cols["postal_code"] = F.with_nulls(postcode, has_addr)
    cols["country"] = _const(n, "TH")
    cols["loyalty_card_id"] = card
    return cols


def _write_customers(w: _Writer, rng, p: People, rec: Records, pools: Pools, parts: list[_Partition]) -> None:
    reg_day = rec.reg_sec // 86400
    # Updated records on each daily day: people who moved (new address), registered before that
    # day, re-sent with that day's updated_at.
    moved = {}
    for part in parts:
        if not part.daily:
            continue
        old = np.flatnonzero(reg_day < part.first)
        n_upd = min(old.size, max(3, int(round(0.0015 * rec.pid.size))))
        upd_idx = np.sort(rng.choice(old, n_upd, replace=False)) if n_upd else np.empty(0, np.int64)
        upd_sec = part.first * 86400 + rng.integers(8 * 3600, 20 * 3600, upd_idx.size)
        upd_addr = rng.integers(0, len(pools.street), upd_idx.size)
        moved[part.date] = (upd_idx, upd_sec, upd_addr)

    specs = {
        POS: ("pos_customers.csv", "csv-cp874"),
        WEB: ("web_customers.jsonl", "jsonl"),
        WARRANTY: ("warranty_cards.xlsx", "xlsx"),
        LOYALTY: ("loyalty_members.csv", "csv-utf8-bom"),
        DEALER: ("dealer_export.xlsx", "xlsx"),
    }
    for sysc, (name, fmt) in specs.items():
        for part in parts:
            idx = np.flatnonzero((rec.system == sysc) & part.holds(reg_day))
            idx = idx[np.argsort(rec.reg_sec[idx], kind="stable")]
            # an extract shows no update later than its own day
            shown_upd = np.minimum(rec.upd_sec[idx], part.end_sec)
            cols = _customer_table(rng, sysc, idx, p, rec, pools, upd_sec=shown_upd)
            if part.daily:
                upd_idx, upd_sec, upd_addr = moved[part.date]
                us = rec.system[upd_idx] == sysc
                extra = _customer_table(
                    rng, sysc, upd_idx[us], p, rec, pools, address=upd_addr[us], upd_sec=upd_sec[us]
                )
                cols = {k: pa.concat_arrays([cols[k], extra[k].cast(cols[k].type)]) for k in cols}
            if len(cols["source_customer_id"]) == 0 and part.daily and sysc == DEALER:
                continue
            source = "dealer_customers" if sysc == DEALER else "customers"
            if fmt == "xlsx":
                w.emit(source, part.date, name, fmt, xlsx=_xlsx_spec(sysc, cols))
                continue
            table = pa.table({c: cols[c] for c in CUSTOMER_COLUMNS})
            kinds = []
            if sysc == POS:
                kinds = [
                    (
                        "missing source_customer_id",
                        lambda t, s: _set(t, "source_customer_id", pa.nulls(t.num_rows, pa.string())),
                    ),
                    _Nulled("registered_at", "31/02/2567 10:15"),
                ]
            elif sysc == WEB:
                kinds = [
                    (
                        "missing source_customer_id",
                        lambda t, s: _set(t, "source_customer_id", pa.nulls(t.num_rows, pa.string())),
                    )
                ]
            elif sysc == LOYALTY:
                kinds = [_Nulled("birth_date", "45/13/1985")]
            w.emit(source, part.date, name, fmt, table, kinds)


def _xlsx_spec(sysc: int, cols: dict) -> dict:
    def serial(a: pa.Array, whole: bool) -> pa.Array:
        secs = a.cast(pa.timestamp("s")).cast(pa.int64())
        v = pc.add(pc.divide(secs.cast(pa.float64()), 86400.0), float(-F.EXCEL_EPOCH_DAYS))
        return pc.floor(v).cast(pa.int64()) if whole else v

    if sysc == WARRANTY:
        kinds = [
            "number" if c in ("birth_date", "registered_at", "updated_at") else "text"
            for c in CUSTOMER_COLUMNS
        ]
        return {
            "header": CUSTOMER_COLUMNS,
            "columns": [cols[c] for c in CUSTOMER_COLUMNS],
            "kinds": kinds,
            "sheet": "warranty",
        }
    columns, kinds = [], []
    for _, c in DEALER_HEADERS:
        if c == "birth_date":
            columns.append(serial(cols[c], True))
            kinds.append("date")
        elif c in ("registered_at", "updated_at"):
            columns.append(serial(cols[c], False))
            kinds.append("datetime")
        else:
            columns.append(cols[c])
            kinds.append("text")
    return {"header": [h for h, _ in DEALER_HEADERS], "columns": columns, "kinds": kinds, "sheet": "ลูกค้า"}


# ---------------------------------------------------------------- orders and lines
def _write_orders(w: _Writer, o: Orders, rec: Records, parts: list[_Partition]) -> None:
    base = np.arange(o.pid.size)
    # Rows: every order once (completed, or cancelled), a refund row later, and duplicate deliveries
    # (a duplicate arrives in its original's partition).
    ref = np.flatnonzero(o.kind == REFUNDED)
    dup = np.flatnonzero(o.duplicated)
    dup_sec = o.sec[dup] + w.rng.integers(1, 2 * 86400, dup.size)
    part_end = _partition_end_sec(parts, o.sec[dup] // 86400)
    dup_sec = np.minimum(dup_sec, part_end)
    row_order = np.concatenate([base, ref, dup])
    row_sec = np.concatenate([o.sec, o.refund_sec[ref], dup_sec])
    row_kind = np.concatenate(
        [np.zeros(base.size, np.int8), np.ones(ref.size, np.int8), np.full(dup.size, 2, np.int8)]
    )
    status_code = np.where(row_kind == 1, 2, np.where(o.kind[row_order] == CANCELLED, 1, 0))
    srt = np.lexsort((row_kind, row_sec))
    row_order, row_sec, status_code = row_order[srt], row_sec[srt], status_code[srt]
    for sysc, name, fmt in ((POS, "pos_orders.csv", "csv-utf8"), (WEB, "web_orders.jsonl", "jsonl")):
        day = row_sec // 86400
        for part in parts:
            m = (o.system[row_order] == sysc) & part.holds(day)
            sel = np.flatnonzero(m)

            def build(a: int, b: int, sel=sel, sysc=sysc) -> pa.Table:
                rows = sel[a:b]
                oi = row_order[rows]
                n = rows.size
                if sysc == POS:
                    amount = F.format_amount(o.total[oi], w.rng.choice(3, n, p=[0.5, 0.3, 0.2]))
                    ordered = F.be_datetime(o.sec[oi])
                else:
                    amount = pa.array(o.total[oi])
                    ordered = F.iso_ts(o.sec[oi], "T")
                return pa.table(
                    {
                        "source_system": _const(n, SYSTEMS[sysc]),
                        "order_id": o.order_id(oi),
                        "source_customer_id": rec.source_id.take(pa.array(o.record[oi])),
                        "ordered_at": ordered,
                        "channel": o.channel(oi),
                        "store_id": o.store_id(oi),
                        "status": F.choose(
                            status_code[rows],
                            pa.scalar("completed"),
                            pa.scalar("cancelled"),
                            pa.scalar("refunded"),
                        ),
                        "total_amount": amount,
                        "currency": _const(n, "THB"),
                    }
                )

            prefix = "PO9" if sysc == POS else "WEB-9"
            fresh_order = _fresh_id("order_id", prefix)
            kinds = [
                (
                    "missing source_customer_id",
                    lambda t, s, f=fresh_order: _set(
                        f(t, s), "source_customer_id", pa.nulls(t.num_rows, pa.string())
                    ),
                ),
                _unparseable("ordered_at", "2024-13-45 25:61", id_column="order_id", prefix=prefix),
            ]
            if sysc == POS:
                kinds.append(_unparseable("total_amount", "abc", id_column="order_id", prefix=prefix))
            w.emit("orders", part.date, name, fmt, kinds=kinds, n_rows=sel.size, build=build)


def _write_lines(w: _Writer, o: Orders, lines: Lines, pools: Pools, parts: list[_Partition]) -> None:
    oday = o.sec[lines.order] // 86400
    products = pa.array(pools.products["product_id"])
    for part in parts:
        sel = np.flatnonzero(part.holds(oday))

        def build(a: int, b: int, sel=sel) -> pa.Table:
            rows = sel[a:b]
            ords = lines.order[rows]
            wd = lines.warranty_day[rows]
            return pa.table(
                {
                    "source_system": F.choose(o.system[ords], pa.scalar("pos"), pa.scalar("web")),
                    "order_id": o.order_id(ords),
                    "line_no": pa.array(lines.line_no[rows].astype(np.int64), pa.int64()),
                    "product_id": products.take(pa.array(lines.product[rows])),
                    "quantity": pa.array(lines.quantity[rows].astype(np.int64), pa.int64()),
                    "unit_price": pa.array(lines.unit_price[rows], pa.float64()),
                    "warranty_until": pa.array(
                        np.where(wd >= 0, wd, 0).astype("datetime64[D]"), pa.date32(), mask=wd < 0
                    ),
                }
            )

        kinds = [
            (
                "negative quantity",
                lambda t, s: _set(
                    _fresh_id("order_id", "PO9")(t, s),
                    "quantity",
                    pa.array(-np.maximum(t["quantity"].to_numpy(), 1), pa.int64()),
                ),
            )
        ]
        w.emit(
            "order_lines",
            part.date,
            "order_lines.parquet",
            "parquet",
            kinds=kinds,
            n_rows=sel.size,
            build=build,
        )


def _write_products(w: _Writer, pools: Pools, parts: list[_Partition]) -> None:
    pr = pools.products
    table = pa.table(
        {
            "product_id": pa.array(pr["product_id"]),
            "name": pa.array(pr["name"]),
            "category": pa.array(pr["category"]),
            "price": F.format_amount(pr["price"], np.full(pr["price"].size, 2)),
        }
    )
    w.emit("products", parts[0].date, "products.csv", "csv-utf8", table)  # the catalogue, in the bulk


# ---------------------------------------------------------------- web events, consents, tickets
def _write_events(
    w: _Writer, e: Events, rec: Records, p: People, pools: Pools, parts: list[_Partition]
) -> None:
    day = e.sec // 86400
    for part in parts:
        sel = np.flatnonzero(part.holds(day))

        def build(a: int, b: int, sel=sel) -> pa.Table:
            rows = sel[a:b]
            return pa.table(
                {
                    "event_id": e.event_id(rows),
                    "source_system": _const(rows.size, "web"),
                    "source_customer_id": rec.source_id.take(pa.array(e.record[rows])),
                    "email": F.with_nulls(p.email.take(pa.array(e.pid[rows])), e.with_email[rows]),
                    "event_type": F.choose(
                        e.event_type[rows], pa.scalar("login"), pa.scalar("page_view"), pa.scalar("search")
                    ),
                    "occurred_at": F.iso_ts(e.sec[rows], "T"),
                    "url": e.url(rows, pools),
                    "search_term": e.search_term(rows),
                }
            )

        kinds = [_unparseable("occurred_at", "not-a-date", id_column="event_id", prefix="EV9")]
        w.emit(
            "web_events", part.date, "web_events.jsonl", "jsonl", kinds=kinds, n_rows=sel.size, build=build
        )


def _write_consents(w: _Writer, c: Consents, rec: Records, parts: list[_Partition]) -> None:
    for part in parts:
        sel = np.flatnonzero(part.holds(c.sec // 86400))
        r = pa.array(c.record[sel])
        table = pa.table(
            {
                "source_system": pa.array(
                    np.array(SYSTEMS, dtype=object)[rec.system[c.record[sel]]], pa.string()
                ),
                "source_customer_id": rec.source_id.take(r),
                "email": rec.email_display.take(r),
                "phone": rec.phone_display.take(r),
                "channel": pa.array(np.array(CONSENT_CHANNELS, dtype=object)[c.channel[sel]], pa.string()),
                "status": F.choose(c.opt_in[sel].astype(np.int8), pa.scalar("opt_out"), pa.scalar("opt_in")),
                "recorded_at": F.iso_ts(c.sec[sel]),
            }
        )
        kinds = [
            ("unparseable recorded_at", lambda t, s: _set(t, "recorded_at", _const(t.num_rows, "yesterday")))
        ]
        w.emit("consents", part.date, "consents.csv", "csv-utf8", table, kinds)


def _write_tickets(w: _Writer, t: Tickets, rec: Records, p: People, parts: list[_Partition]) -> None:
    # A ticket arrives in the partition it was opened in (closed if it closed by that partition's
    # end); one closed on a later daily day arrives again, closed, in that day's partition.
    oday = t.opened_sec // 86400
    cday = np.where(t.closed_sec >= 0, t.closed_sec // 86400, 10**9)
    for part in parts:
        rows = np.concatenate(
            [np.flatnonzero(part.holds(oday)), np.flatnonzero((oday < part.first) & part.holds(cday))]
        )
        closed = cday[rows] <= part.last
        r = pa.array(rec_i := t.record[rows])
        email = pa.array(rec.email_display.take(pa.array(rec_i)))
        closed_txt = F.with_nulls(F.iso_ts(np.maximum(t.closed_sec[rows], 0)), closed)
        table = pa.table(
            {
                "ticket_id": t.ticket_id.take(pa.array(rows)),
                "source_system": pa.array(np.array(SYSTEMS, dtype=object)[rec.system[rec_i]], pa.string()),
                "source_customer_id": rec.source_id.take(r),
                "email": email,
                "opened_at": F.iso_ts(t.opened_sec[rows]),
                "closed_at": closed_txt,
                "status": F.choose(closed.astype(np.int8), pa.scalar("open"), pa.scalar("closed")),
                "category": t.category.take(pa.array(rows)),
                "subject": t.subject.take(pa.array(rows)),
            }
        )
        kinds = [_unparseable("opened_at", "32/01/2024", id_column="ticket_id", prefix="TK9")]
        w.emit("support_tickets", part.date, "support_tickets.csv", "csv-utf8", table, kinds)


# ---------------------------------------------------------------- truth
def _write_truth(
    truth: Path, p: People, rec: Records, exp: dict, broken: list, o: Orders, nulled: list
) -> None:
    import pyarrow.parquet as pq

    truth.mkdir(parents=True, exist_ok=True)
    last = exp["last_order_sec"]
    people = pa.table(
        {
            "person_id": pa.array(np.arange(p.n), pa.int64()),
            "latent_rank": pa.array(np.array(RANKS, dtype=object)[p.rank], pa.string()),
            "expected_rank": pa.array(np.array(RANKS, dtype=object)[exp["rank"]], pa.string()),
            "orders_3y": pa.array(exp["orders_3y"], pa.int64()),
            "spend_3y": pa.array(exp["spend_3y"], pa.float64()),
            "orders_lifetime": pa.array(exp["orders_lifetime"], pa.int64()),
            "spend_lifetime": pa.array(exp["spend_lifetime"], pa.float64()),
            "last_order_at": pa.array(
                np.where(last >= 0, last, 0).astype("datetime64[s]"), pa.timestamp("s"), mask=last < 0
            ).cast(pa.timestamp("us")),
            "lapsed_regular": pa.array(p.lapsed),
            "email": p.email,
            "mobile_e164": F.join("+66", F.s(p.mobile)),
            "loyalty_card_id": p.card,
            "n_records": pa.array(p.n_records, pa.int64()),
            "transitive_only": pa.array(p.transitive),
        }
    )
    pq.write_table(people, truth / "people.parquet")
    records = pa.table(
        {
            "person_id": pa.array(rec.pid, pa.int64()),
            "source_system": pa.array(np.array(SYSTEMS, dtype=object)[rec.system], pa.string()),
            "source_customer_id": rec.source_id,
            "chain_position": pa.array(rec.position, pa.int64()),
            "email_shown": pa.array(rec.show_email),
            "mobile_shown": pa.array(rec.show_mobile),
            "card_shown": pa.array(rec.show_card),
            "landline_shown": pa.array(rec.show_landline),
            "junk_email": pa.array(rec.junk_email),
            "junk_phone": pa.array(rec.junk_phone),
            "shop_phone": pa.array(rec.shop_phone),
            "email_raw": rec.email_display,
            "phone_raw": rec.phone_display,
        }
    )
    pq.write_table(records, truth / "records.parquet")
    pq.write_table(
        pa.table(
            {
                "file": pa.array([b[0] for b in broken], pa.string()),
                "row_number": pa.array([b[1] for b in broken], pa.int64()),
                "reason": pa.array([b[2] for b in broken], pa.string()),
            }
        ),
        truth / "broken_rows.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "file": pa.array([x[0] for x in nulled], pa.string()),
                "row_number": pa.array([x[1] for x in nulled], pa.int64()),
                "column": pa.array([x[2] for x in nulled], pa.string()),
                "reason": pa.array([x[3] for x in nulled], pa.string()),
            }
        ),
        truth / "nulled_fields.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "order_id": o.order_id(np.arange(o.pid.size)),
                "person_id": pa.array(o.pid, pa.int64()),
                "source_system": pa.array(np.array(SYSTEMS, dtype=object)[o.system], pa.string()),
                "final_status": F.choose(
                    np.where(o.kind == REFUNDED, 2, np.where(o.kind == CANCELLED, 1, 0)),
                    pa.scalar("completed"),
                    pa.scalar("cancelled"),
                    pa.scalar("refunded"),
                ),
                "ordered_at": F.ts_array(o.sec).cast(pa.timestamp("us")),
                "total_amount": pa.array(o.total),
                "duplicated": pa.array(o.duplicated),
            }
        ),
        truth / "orders.parquet",
    )


__all__ = ["DemoSummary", "generate"]
