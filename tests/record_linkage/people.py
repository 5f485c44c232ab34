"""Synthetic cross-system duplicates for the matcher's tests: one person, several systems, no
shared identifier on most records, Thai or self-spelt Latin names, typos and missing values; the
truth (which records are one person) kept beside them.

The demo generator (crmloop/demo_data) links every person's records by a shared email, mobile or
card and shows Latin names unrelated to the Thai ones, so it cannot measure this stage; its name,
street and place pools are reused here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from pythainlp.transliterate import romanize

from crmloop.demo_data.pools import draw_pools

THAI_LETTERS = "กขคงจฉชซญดตถทนบปผพฟมยรลวศสหอ"
# Thai surnames are many (a family's own, registered): faker's 250 are stretched with the usual
# compound endings, so two strangers rarely share one, as in life
SURNAME_ENDINGS = ("", "วงศ์", "สกุล", "ศรี", "ทอง", "พงษ์", "ชัย", "กุล", "รัตน์", "เจริญ", "สุข", "พันธ์", "ไพบูลย์")
HOUSEHOLD_SHARE = 0.08  # people living with a relative: same surname and address, another first name
LATIN_LETTERS = "abcdefghiklmnoprstuwy"
# (system, share of people in it, Latin names, birth date shown, address shown, mobile shown)
SYSTEMS = (
    ("pos", 0.7, 0.0, 0.6, 0.8, 0.4),
    ("web", 0.6, 0.7, 0.7, 0.5, 0.4),
    ("dealer", 0.35, 0.0, 0.5, 0.9, 0.3),
)


@dataclass
class Generated:
    records: pd.DataFrame  # customers' lake columns (sources.record_linkage.features.RECORD_COLUMNS) + phone
    person: dict[str, int]  # unique_id -> person

    def true_pairs(self) -> set[tuple[str, str]]:
        by: dict[int, list[str]] = {}
        for uid, p in self.person.items():
            by.setdefault(p, []).append(uid)
        return {tuple(sorted((a, b))) for ids in by.values() for i, a in enumerate(ids) for b in ids[i + 1 :]}


def _typo(rng: np.random.Generator, s: str, letters: str) -> str:
    if len(s) < 3:
        return s
    i = int(rng.integers(1, len(s) - 1))
    kind = rng.integers(0, 3)
    if kind == 0:  # substitution
        return s[:i] + letters[int(rng.integers(0, len(letters)))] + s[i + 1 :]
    if kind == 1:  # deletion
        return s[:i] + s[i + 1 :]
    return s[: i - 1] + s[i] + s[i - 1] + s[i + 1 :]  # transposition


def _self_spelt(rng: np.random.Generator, thai: str) -> str:
    """A Thai name as its owner might spell it in Latin letters: RTGS with the usual liberties."""
    s = romanize(thai, engine="royin")
    if s.startswith("ch") and rng.random() < 0.4:
        s = "j" + s[2:]
    if s.endswith("i") and rng.random() < 0.4:
        s = s[:-1] + "ee"
    if "u" in s and rng.random() < 0.3:
        s = s.replace("u", "oo", 1)
    if s.endswith("ai") and rng.random() < 0.3:
        s = s[:-2] + "ay"
    if "ph" in s and rng.random() < 0.3:
        s = s.replace("ph", "p", 1)
    return s.capitalize()


def generate(n_people: int, seed: int = 1, typo_rate: float = 0.08) -> Generated:
    rng = np.random.default_rng(seed)
    pools = draw_pools(seed, n_addresses=max(n_people, 500))
    female = rng.random(n_people) < 0.5
    first = [
        (pools.thai_first_female if f else pools.thai_first_male)[int(rng.integers(0, 250))] for f in female
    ]
    last = [
        pools.thai_last[int(rng.integers(0, len(pools.thai_last)))]
        + SURNAME_ENDINGS[int(rng.integers(0, len(SURNAME_ENDINGS)))]
        for _ in range(n_people)
    ]
    birth = [date(1950, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 20_000, n_people)]
    home = rng.permutation(len(pools.street))[:n_people]
    for p in np.flatnonzero(rng.random(n_people) < HOUSEHOLD_SHARE)[1:]:
        last[p], home[p] = last[p - 1], home[p - 1]  # lives with the previous person
    mobile = [f"08{int(x):08d}" for x in rng.choice(10**8, n_people, replace=False)]
    rows, person = [], {}
    serial = 0
    for p in range(n_people):
        systems = [s for s in SYSTEMS if rng.random() < s[1]] or [SYSTEMS[0]]
        for k, (system, _, latin, show_birth, show_addr, show_mobile) in enumerate(systems):
            serial += 1
            cid = f"{system[0].upper()}{serial:07d}"
            a = int(home[p]) if k == 0 or rng.random() > 0.05 else int(rng.integers(0, len(pools.street)))
            if rng.random() < latin:
                fn, ln, letters = _self_spelt(rng, first[p]), _self_spelt(rng, last[p]), LATIN_LETTERS
            else:
                fn, ln, letters = first[p], last[p], THAI_LETTERS
            if rng.random() < typo_rate:
                fn = _typo(rng, fn, letters)
            if rng.random() < typo_rate:
                ln = _typo(rng, ln, letters)
            b = birth[p] if rng.random() < show_birth else None
            if b is not None and rng.random() < 0.03:  # day and month swapped, or one day off
                b = date(b.year, b.day, b.month) if b.day <= 12 else b + timedelta(days=1)
            street = pools.street[a] if rng.random() < show_addr else None
            if street is not None and rng.random() < typo_rate:
                street = _typo(rng, street, THAI_LETTERS)
            district = pools.district[a]
            if rng.random() < 0.3:
                district = "อ." + district
            rows.append(
                {
                    "source_system": system,
                    "source_customer_id": cid,
                    "first_name": fn,
                    "last_name": ln if rng.random() > 0.05 else None,
                    "birth_date": b,
                    "postal_code": pools.postcode[a] if rng.random() > 0.1 else None,
                    "district": district if rng.random() > 0.1 else None,
                    "province": pools.province[a],
                    "address": street,
                    "phone": mobile[p] if rng.random() < show_mobile else None,
                }
            )
            person[f"{system}:{cid}"] = p
    return Generated(pd.DataFrame(rows), person)
