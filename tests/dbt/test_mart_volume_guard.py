"""The mart volume guard (macros/guards.sql): a mart is never replaced by an empty or sharply
smaller table. The rebuild fails naming the mart and both counts, the previous table stays, and
the models downstream of it are not built; CRM_DQ_MART_MAX_SHRINK sets the tolerated drop."""

from __future__ import annotations

import pytest

from bench.lake import write_empty_entities, write_partition
from sources.partition_status import ADMISSION_CHANGED_ENV, BLOCKED_ENV
from tests.dbt.dbt_helpers import dbt_in_process, query

D1 = "2025-06-30"
MODELS = [
    "build",
    "--exclude-resource-type",
    "unit_test",
    "--indirect-selection",
    "cautious",
    "--select",
    "+customer_ranks",
]


def people(system: str, ids: range) -> list[dict]:
    return [
        {"source_system": system, "source_customer_id": str(i), "email": f"{system}{i}@example.com"}
        for i in ids
    ]


@pytest.fixture
def built(tmp_path):
    lake = tmp_path / "lake"
    write_partition(lake, "customers", D1, people("crm", range(1, 5)), source="crm")  # 4 people
    write_partition(lake, "customers", D1, people("dealer", range(1, 4)), source="dealer")  # 3 people
    write_empty_entities(lake, load_date=D1)
    (tmp_path / "wh").mkdir()
    build(tmp_path, {})
    assert count(tmp_path, "customer_ranks") == 7
    return tmp_path


def build(tmp_path, env: dict) -> None:
    dbt_in_process(
        MODELS,
        warehouse=tmp_path / "wh" / "warehouse.duckdb",
        lake=tmp_path / "lake",
        work=tmp_path / "work",
        as_of=D1,
        extra_env={"CRM_DQ_MART_MAX_SHRINK": "", BLOCKED_ENV: "", ADMISSION_CHANGED_ENV: "1", **env},
    )


def count(tmp_path, mart: str) -> int:
    return query(tmp_path / "wh" / "warehouse.duckdb", f"select count(*) from marts.{mart}")[0][0]


def test_a_mart_is_never_replaced_by_an_empty_or_sharply_smaller_table(built):
    # without the crm partition 3 of 7 people remain: 57 % fewer, more than the 50 % allowed
    with pytest.raises(
        AssertionError, match=r"mart volume guard: marts\.customer_identity would go from 7 rows to 3"
    ):
        build(built, {BLOCKED_ENV: f"customers:crm@{D1}"})
    assert count(built, "customer_identity") == 7  # the previous table stays, nothing downstream is built
    assert count(built, "customer_ranks") == 7
    # empty is refused even at a loose threshold
    with pytest.raises(AssertionError, match="would go from 7 rows to 0"):
        build(
            built,
            {BLOCKED_ENV: f"customers:crm@{D1},customers:dealer@{D1}", "CRM_DQ_MART_MAX_SHRINK": "0.99"},
        )
    assert count(built, "customer_ranks") == 7
    with pytest.raises(AssertionError, match="CRM_DQ_MART_MAX_SHRINK must be a share between 0 and 1"):
        build(built, {"CRM_DQ_MART_MAX_SHRINK": "50%"})
    # within the threshold, and with the guard off, the mart is replaced
    build(built, {BLOCKED_ENV: f"customers:dealer@{D1}"})  # 7 -> 4: 43 % fewer, within 50 %
    assert count(built, "customer_ranks") == 4
    build(built, {BLOCKED_ENV: f"customers:crm@{D1},customers:dealer@{D1}", "CRM_DQ_MART_MAX_SHRINK": "1"})
    assert count(built, "customer_ranks") == 0
