"""Fast contract tests: each copy of a contract that has to stay (dbt cannot import Python) is
compared with the one declared in code, so drift between ingestion, dbt and the plan fails the
fast suite without building anything.

- the lake: one writer, the ingestion code, loads every declared entity (`sources/declarations/`,
  schema in `sources/schema.py`; the campaign state's `campaign_sends` and `campaign_plan` too,
  `produced_by: campaign_state`); dbt declares it as the `lake` source (`models/staging/lake.yml`),
  reads it with `lake(entity)` and, before the first partition of an entity, stands in an empty
  typed relation whose columns each campaign staging model writes out (`lake_or_empty(entity, columns)`);
- `marts.customer_profiles`: its YAML declares every column with its type; the plan's profile
  fields (`activations/plan/spec.py` FIELD_TYPES) must be columns of it of their type (the built
  table is compared with the YAML in `tests/dbt/test_dbt_build.py`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from activations.plan.spec import FIELD_TYPES
from sources import entity_schema, load_declarations

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "dbt_project" / "models"
PROFILES_YAML = MODELS / "marts" / "profiles_and_ranks" / "customer_profiles.yml"
LAKE_YAML = MODELS / "staging" / "lake.yml"

# Lineage columns every lake file carries (entity_schema appends them; lake_or_empty adds its own).
LINEAGE = {"_source", "_source_file", "_row_number"}
# Arrow type of the lake -> the SQL type a dbt model casts it to ('string' is the string_type() macro)
ARROW_TO_SQL = {pa.string(): "string", pa.bool_(): "boolean", pa.date32(): "date", pa.timestamp("us"): "timestamp",
                pa.float64(): "double", pa.int64(): "bigint"}  # fmt: skip
# the plan's field kinds -> DuckDB types of a customer_profiles column that serve them
PLAN_KIND_TO_DUCKDB = {"str": {"varchar"}, "int": {"integer", "bigint", "hugeint"}, "float": {"double", "float"},
                       "bool": {"boolean"}, "date": {"date", "timestamp"}}  # fmt: skip


def profile_columns_declared(path: Path = PROFILES_YAML) -> dict[str, str]:
    model = next(
        m
        for m in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]
        if m["name"] == "customer_profiles"
    )
    names = [c["name"] for c in model["columns"]]
    assert len(names) == len(set(names)), f"{path.name} lists a column twice"
    untyped = [c["name"] for c in model["columns"] if not c.get("data_type")]
    assert untyped == [], f"{path.name}: columns without data_type {untyped}"
    return {c["name"]: str(c["data_type"]).lower() for c in model["columns"]}


_SET_COLUMNS = re.compile(r"\{%-?\s*set\s+columns\s*=\s*(\{.*?\})\s*-?%\}", re.DOTALL)
_LAKE_OR_EMPTY = re.compile(r"lake_or_empty\(\s*'([a-z_]+)'\s*,\s*columns\s*\)")
_LAKE = re.compile(r"\blake\(\s*'([a-z_]+)'\s*\)")


def stand_in_columns(sql: str) -> tuple[str, dict[str, str]] | None:
    """(entity, {column: sql type}) of a model's `lake_or_empty(entity, columns)`, or None."""
    used = _LAKE_OR_EMPTY.search(sql)
    if not used:
        return None
    declared = _SET_COLUMNS.search(sql)
    assert declared, "lake_or_empty(entity, columns) without a `{% set columns = {...} %}`"
    text = re.sub(r"(?:dbt\.type_string|string_type)\(\)", "'string'", declared.group(1))
    return used.group(1), {k: v.lower() for k, v in ast.literal_eval(text).items()}


def model_sql() -> dict[str, str]:
    return {
        p.relative_to(MODELS).as_posix(): p.read_text(encoding="utf-8") for p in sorted(MODELS.rglob("*.sql"))
    }


def declared_entities() -> set[str]:
    """The lake's entities: those a declaration feeds (delivered sources and produced ones)."""
    return {d.entity for d in load_declarations(include_produced=True).values()}


def test_every_declared_entity_is_a_dbt_lake_source_and_nothing_else_is():
    declared = {
        t["name"]
        for s in yaml.safe_load(LAKE_YAML.read_text(encoding="utf-8"))["sources"]
        for t in s["tables"]
    }
    assert declared == declared_entities()


def test_the_campaign_state_is_declared_as_produced_by_its_step():
    produced = {d.name: (d.entity, d.produced_by) for d in load_declarations(include_produced=True).values()}
    assert produced["campaign_sends"] == ("campaign_sends", "campaign_state")
    assert produced["campaign_plan"] == ("campaign_plan", "campaign_state")
    assert "campaign_sends" not in load_declarations()  # not a delivery: no landing-zone ingestion asset


def test_every_entity_a_model_reads_from_the_lake_has_a_writer():
    read = {e for sql in model_sql().values() for e in _LAKE.findall(sql) + _LAKE_OR_EMPTY.findall(sql)}
    assert read, "no model reads the lake: the pattern no longer matches the models"
    assert sorted(read - declared_entities()) == []


@pytest.mark.parametrize("model", [m for m, sql in model_sql().items() if _LAKE_OR_EMPTY.search(sql)])
def test_a_stand_in_for_an_empty_lake_entity_has_the_writers_columns_and_types(model):
    entity, columns = stand_in_columns(model_sql()[model])
    schema = entity_schema(entity)
    written = {f.name: ARROW_TO_SQL[f.type] for f in schema if f.name not in LINEAGE}
    assert columns == written


def test_the_stand_in_reader_reads_a_model():
    sql = "{%- set columns = {'a': string_type(), 'b': 'date'} %}\nselect * from {{ lake_or_empty('orders', columns) }}"
    assert stand_in_columns(sql) == ("orders", {"a": "string", "b": "date"})


def test_every_plan_field_is_a_declared_customer_profiles_column_of_its_type():
    declared = profile_columns_declared()
    assert sorted(set(FIELD_TYPES) - set(declared)) == []
    wrong = {
        f: (kind, declared[f])
        for f, kind in FIELD_TYPES.items()
        if declared[f] not in PLAN_KIND_TO_DUCKDB[kind]
    }
    assert wrong == {}


def test_the_profile_reader_refuses_an_untyped_column(tmp_path):
    path = tmp_path / "customer_profiles.yml"
    path.write_text("version: 2\nmodels:\n- name: customer_profiles\n  columns:\n  - name: rank\n")
    with pytest.raises(AssertionError, match="without data_type"):
        profile_columns_declared(path)
