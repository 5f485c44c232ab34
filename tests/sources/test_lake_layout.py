"""The lake layout's one reader (sources/lake.py): what ingestion writes is what the journeys,
the suppression list and the run summary read."""

from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from sources.lake import entity_files, partition_date, partitions
from tests.sources.conftest import D
from tests.sources.test_ingest import CUSTOMERS_CSV


def _write(path, n=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"x": list(range(n))}), path)


def test_only_partition_folders_up_to_the_day_are_read(tmp_path):
    lake = tmp_path / "lake"
    _write(lake / "email_events" / "load_date=2026-11-30" / "sendgrid-0000.parquet")
    _write(lake / "email_events" / "load_date=2026-12-01" / "sendgrid-0000.parquet")
    _write(lake / "email_events" / "load_date=2026-12-02" / "sendgrid-0000.parquet")
    _write(lake / "email_events" / "load_date=2026-12-01.tmp" / "sendgrid-0000.parquet")  # not a partition
    _write(lake / "email_events" / "notes" / "x.parquet")
    (lake / "email_events" / "load_date=2026-12-01" / "_SUCCESS").write_text("")

    files = entity_files(lake, "email_events", up_to=date(2026, 12, 1))

    assert [f.split("/")[-2] for f in files] == ["load_date=2026-11-30", "load_date=2026-12-01"]
    assert len(entity_files(lake, "email_events")) == 3
    assert entity_files(lake, "sms_events") == []
    assert [d for d, _ in partitions(lake, "email_events")] == [
        date(2026, 11, 30),
        date(2026, 12, 1),
        date(2026, 12, 2),
    ]
    assert partition_date("load_date=2026-12-01") == date(2026, 12, 1)
    assert partition_date("load_date=2026-12-01.tmp") is None


def test_what_ingestion_writes_is_what_the_readers_find(env):
    env.drop("customers", "customers.csv", CUSTOMERS_CSV)
    res = env.ingest("customers")

    assert entity_files(env.lake, res.entity, up_to=D) == sorted(str(f) for f in res.lake_files)
    assert entity_files(env.lake, res.entity, up_to=D - timedelta(days=1)) == []
