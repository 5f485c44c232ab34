"""The lake's schema grows (customers' `nulled_fields` came after the first partitions were
written). On Spark the dbt sources read the lake as `parquet.<dir>` (macros/lake.sql): with the
session settings of dbt_project/profiles.yml, a column that only newer partitions carry is read,
null in the older ones, instead of disappearing with whichever file Spark takes its schema from."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from crmloop.settings import DBT_PROJECT_DIR

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def _spark_settings() -> dict[str, str]:
    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))
    params = profiles["crmloop"]["outputs"]["spark"]["server_side_parameters"]
    # the SQL settings (how parquet is read, time zone, shuffles); the rest name folders and memory
    return {
        k: str(v) for k, v in params.items() if k.startswith("spark.sql.") and k != "spark.sql.warehouse.dir"
    }


def test_an_old_partition_without_a_new_column_reads_it_as_null(tmp_path):
    from pyspark.sql import SparkSession

    lake = tmp_path / "customers"
    old, new = lake / "load_date=2026-01-01", lake / "load_date=2026-01-02"
    old.mkdir(parents=True)
    new.mkdir(parents=True)
    pq.write_table(pa.table({"source_customer_id": ["a"]}), old / "pos-0001.parquet")
    pq.write_table(
        pa.table({"source_customer_id": ["b"], "nulled_fields": ["invalid_date:birth_date"]}),
        new / "pos-0001.parquet",
    )
    builder = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
    for key, value in _spark_settings().items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        for key, value in _spark_settings().items():  # a session from an earlier test keeps its own
            spark.conf.set(key, value)
        rows = spark.sql(
            f"select source_customer_id, nulled_fields from parquet.`{lake.as_posix()}` order by 1"
        ).collect()
    finally:
        spark.stop()
    assert [tuple(r) for r in rows] == [("a", None), ("b", "invalid_date:birth_date")]
