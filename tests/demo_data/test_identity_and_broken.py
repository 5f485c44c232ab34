"""Overlapping source records, junk identifiers and the broken-row manifest, checked against the files."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pandas as pd
import pyarrow.parquet as pq

from crmloop.demo_data.generate import DEALER_HEADERS

from .conftest import AS_OF
from .readback import be_to_datetime, digits, e164, parse_amount

JUNK_EMAILS = {"noemail@gmail.com", "no@email.com", "none@none.com", "noemail@example-shop.co.th"}
SHOP_PHONE = "+6620261456"


def _customers(g) -> pd.DataFrame:
    frames = []
    for p in g.files("customers", "pos_customers.csv"):
        frames.append(pd.read_csv(p, encoding="cp874", dtype=str))
    for p in g.files("customers", "loyalty_members.csv"):
        frames.append(pd.read_csv(p, encoding="utf-8-sig", dtype=str))
    for p in g.files("customers", "web_customers.jsonl"):
        frames.append(pd.read_json(p, lines=True, dtype=False).astype("string"))
    for p in g.files("customers", "warranty_cards.xlsx"):
        frames.append(pd.read_excel(p, dtype=str))
    for p in g.files("dealer_customers", "dealer_export.xlsx"):
        df = pd.read_excel(p, dtype=str).rename(columns=dict(DEALER_HEADERS))
        frames.append(df.assign(source_system="dealer"))
    df = pd.concat(frames, ignore_index=True)
    df = df[df["source_customer_id"].isin(set(g.records["source_customer_id"]))]
    df = df.drop_duplicates("source_customer_id")
    df["email_n"] = df["email"].astype("string").str.strip().str.lower()
    df["phone_n"] = e164(df["phone"])
    return df


def _link_keys(df: pd.DataFrame) -> pd.DataFrame:
    keys = []
    email = df["email_n"].where(~df["email_n"].isin(JUNK_EMAILS) & df["email_n"].str.contains("@", na=False))
    keys.append(pd.DataFrame({"id": df["source_customer_id"], "key": "e:" + email}))
    mobile = df["phone_n"].where(df["phone_n"].str.match(r"^\+66[689]\d{8}$", na=False))
    keys.append(pd.DataFrame({"id": df["source_customer_id"], "key": "m:" + mobile}))
    keys.append(
        pd.DataFrame({"id": df["source_customer_id"], "key": "c:" + df["loyalty_card_id"].astype("string")})
    )
    return pd.concat(keys).dropna()


def test_overlapping_people_link_only_through_their_own_identifiers(small):
    df = _customers(small)
    person = small.records.set_index("source_customer_id")["person_id"]
    keys = _link_keys(df)
    keys["person"] = keys["id"].map(person)
    # no real identifier is shared by two different people
    per_key = keys.groupby("key")["person"].nunique()
    assert per_key.max() == 1, per_key[per_key > 1].head()
    # every person's records are connected through shared identifiers (union-find over records)
    parent = {i: i for i in df["source_customer_id"]}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _, grp in keys.groupby("key")["id"]:
        ids = list(grp)
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
    comps = defaultdict(set)
    for i in df["source_customer_id"]:
        comps[person[i]].add(find(i))
    multi = small.people[small.people["n_records"] > 1]["person_id"]
    assert len(multi) > 0.3 * len(small.people)
    assert all(len(comps[p]) == 1 for p in multi if p in comps)


def test_some_people_link_only_transitively(small):
    df = _customers(small).set_index("source_customer_id")
    keys = _link_keys(df.reset_index())
    by_id = keys.groupby("id")["key"].apply(set)
    rec = small.records
    trans = small.people[small.people["transitive_only"]]["person_id"]
    assert len(trans) >= 10
    checked = 0
    for pid in trans:
        r = rec[rec["person_id"] == pid].sort_values("chain_position")["source_customer_id"].tolist()
        if not all(x in by_id.index for x in r):
            continue  # a record of this person arrived only as a broken row
        a, b, c = (by_id[x] for x in r)
        assert not (a & c), "first and third record must not share an identifier directly"
        assert a & b and b & c
        assert any(k.startswith("e:") for k in a & b) and any(k.startswith("m:") for k in b & c)
        checked += 1
    assert checked >= 10


def test_phone_and_email_variants_and_junk_identifiers(small):
    df = _customers(small)
    phones = df["phone"].dropna().astype(str)
    assert phones.str.fullmatch(r"0\d{2}-\d{3}-\d{4}").any()  # 081-234-5678
    assert phones.str.fullmatch(r"0\d{9}").any()  # 0812345678
    assert phones.str.fullmatch(r"\+66 \d{2} \d{3} \d{4}").any()  # +66 81 234 5678
    assert phones.str.fullmatch(r"66\d{9}").any()  # 66812345678
    landline = phones.str.fullmatch(r"02-\d{3}-\d{4}") & (e164(phones) != SHOP_PHONE)
    assert landline.sum() >= 3
    emails = df["email"].dropna().astype(str)
    assert (emails != emails.str.strip()).any() and (
        emails.str.strip() != emails.str.strip().str.lower()
    ).any()
    person = small.records.set_index("source_customer_id")["person_id"]
    shop = df[df["phone_n"] == SHOP_PHONE]
    assert len(shop) >= 20 and shop["source_customer_id"].map(person).nunique() >= 20
    junk_e = df[df["email_n"].isin(JUNK_EMAILS)]
    assert junk_e["source_customer_id"].map(person).nunique() >= 2
    zeros = df[digits(df["phone"]).fillna("").str.fullmatch(r"0{10}")]
    assert zeros["source_customer_id"].map(person).nunique() >= 2


def test_broken_row_manifest_points_at_the_broken_rows(small):
    b = small.broken
    assert set(b["reason"]) >= {
        "missing source_customer_id",
        "unparseable ordered_at",
        "unparseable total_amount",
        "negative quantity",
        "unparseable occurred_at",
    }
    # a customer's unparseable non-key field costs no row: listed apart, in real records
    assert set(small.nulled["reason"]) == {"unparseable registered_at", "unparseable birth_date"}
    total = sum(f["rows"] for f in small.summary.files)
    share = len(b) / total
    assert 0.003 <= share <= 0.01, share
    bulk = (AS_OF - timedelta(days=1)).isoformat()
    pos_path = f"orders/{bulk}/pos_orders.csv"
    pos = pd.read_csv(small.landing / pos_path, dtype=str)
    mine = b[b["file"] == pos_path]
    bad = set(mine["row_number"] - 1)
    for _, row in mine.iterrows():
        r = pos.iloc[row["row_number"] - 1]
        if row["reason"] == "unparseable total_amount":
            assert r["total_amount"] == "abc"
        elif row["reason"] == "missing source_customer_id":
            assert pd.isna(r["source_customer_id"])
        elif row["reason"] == "unparseable ordered_at":
            assert pd.isna(be_to_datetime(pd.Series([r["ordered_at"]]))[0])
    good = pos.drop(index=list(bad))
    assert good["source_customer_id"].notna().all()
    assert parse_amount(good["total_amount"]).notna().all()
    assert be_to_datetime(good["ordered_at"]).notna().all()
    lines_path = f"order_lines/{bulk}/order_lines.parquet"
    lines = pq.read_table(small.landing / lines_path).to_pandas()
    neg = set(lines.index[lines["quantity"] <= 0] + 1)
    assert neg == set(b.loc[b["file"] == lines_path, "row_number"])
    cust_path = f"customers/{bulk}/pos_customers.csv"
    cust = pd.read_csv(small.landing / cust_path, encoding="cp874", dtype=str)
    listed = set(b.loc[b["file"] == cust_path, "row_number"])
    assert listed == set(cust.index[cust["source_customer_id"].isna()] + 1)
    nulled = set(small.nulled.loc[small.nulled["file"] == cust_path, "row_number"])
    assert nulled and nulled == set(
        cust.index[cust["source_customer_id"].notna() & be_to_datetime(cust["registered_at"]).isna()] + 1
    )


def test_orders_scale_multiplies_orders_and_truth_follows(tmp_path):
    from crmloop.demo_data.generate import generate

    base = generate(
        customers=300, seed=3, out=tmp_path / "a" / "landing", as_of=AS_OF, truth_dir=tmp_path / "a" / "truth"
    )
    more = generate(
        customers=300,
        seed=3,
        out=tmp_path / "b" / "landing",
        as_of=AS_OF,
        truth_dir=tmp_path / "b" / "truth",
        orders_scale=3.0,
        part_rows=400,
    )
    assert more.rows_per_source["orders"] > 2.5 * base.rows_per_source["orders"]
    parts = sorted(p.name for p in (tmp_path / "b" / "landing" / "orders").glob("*/pos_orders-*.csv"))
    assert parts and parts[0] == "pos_orders-0001.csv"
    people = pd.read_parquet(tmp_path / "b" / "truth" / "people.parquet")
    assert (people["expected_rank"] == "VIP").sum() > (people["latent_rank"] == "VIP").sum()
