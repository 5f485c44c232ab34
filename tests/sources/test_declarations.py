from pathlib import Path

import pytest

from sources import ENTITY_COLUMNS, DeclarationError, entity_schema, load_declarations
from sources.declarations import load_declaration
from sources.schema import KEY_COLUMNS

CANONICAL = {
    "customers",
    "orders",
    "order_lines",
    "products",
    "web_events",
    "consents",
    "support_tickets",
    "campaign_responses",
}


def test_shipped_declarations_load_and_cover_every_entity():
    decls = load_declarations()
    assert CANONICAL | {"dealer_customers"} <= set(decls)
    for name in CANONICAL:
        assert decls[name].entity == name
    assert decls["dealer_customers"].entity == "customers"
    assert decls["dealer_customers"].source_system == "dealer"
    assert decls["dealer_customers"].columns["source_system"].default == "dealer"
    produced = load_declarations(include_produced=True)
    assert {d.entity for d in produced.values()} == set(ENTITY_COLUMNS)
    # the entities the run writes itself are declared, but are no landing-zone source
    assert {n: d.produced_by for n, d in produced.items() if n not in decls} == {
        "campaign_sends": "campaign_state",
        "campaign_plan": "campaign_state",
    }


def test_produced_by_names_a_step_that_writes_an_entity(tmp_path):
    path = tmp_path / "campaign_sends.yml"
    path.write_text(
        "entity: campaign_sends\nproduced_by: somewhere\ncolumns: {campaign_id: {normaliser: id}}\n"
    )
    with pytest.raises(DeclarationError, match="produced_by: 'somewhere' is no step"):
        load_declaration(path)


def test_entity_schema_has_lineage_and_types():
    s = entity_schema("customers")
    assert s.names[-3:] == ["_source", "_source_file", "_row_number"]
    assert str(s.field("birth_date").type) == "date32[day]"
    assert str(s.field("registered_at").type) == "timestamp[us]"
    assert str(s.field("phone_is_mobile").type) == "bool"
    assert str(entity_schema("orders").field("total_amount").type) == "double"
    with pytest.raises(ValueError, match="unknown entity 'nope'"):
        entity_schema("nope")


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / f"{name}.yml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "text, message",
    [
        ("entity: customer\ncolumns: {email: {}}\n", r"bad\.yml: entity: 'customer' is not an entity"),
        ("entity: customers\n", r"bad\.yml: columns: must be a non-empty mapping"),
        ("entity: customers\ncolumns: {emale: {}}\n", r"bad\.yml: columns\.emale: not a column of entity"),
        (
            "entity: customers\ncolumns: {gender: {normaliser: enum}}\n",
            r"bad\.yml: columns\.gender\.values: an enum needs `values`",
        ),
        (
            "entity: customers\ncolumns: {birth_date: {normaliser: amount}}\n",
            r"bad\.yml: columns\.birth_date\.normaliser: 'amount' produces double but customers\.birth_date is date32",
        ),
        (
            "entity: customers\ncolumns: {email: {normaliser: emial}}\n",
            r"bad\.yml: columns\.email\.normaliser: unknown normaliser 'emial'",
        ),
        (
            "entity: customers\ncolumns: {email: {requird: true}}\n",
            r"bad\.yml: columns\.email\.requird: unknown field",
        ),
        (
            "entity: customers\nformats: [xls]\ncolumns: {email: {}}\n",
            r"bad\.yml: formats: must be a non-empty list",
        ),
        (
            "entity: customers\ncolumns: {phone_raw: {}}\n",
            r"bad\.yml: columns\.phone_raw: is derived by the 'phone'",
        ),
        (
            "entity: customers\ncolumns: {first_name: {from: [name]}, last_name: {from: [name]}}\n",
            r"bad\.yml: columns\.last_name\.from: header 'name' is already mapped to 'first_name'",
        ),
        ("source: other\nentity: customers\ncolumns: {email: {}}\n", r"bad\.yml: source: 'other' must equal"),
        (
            "entity: orders\ncolumns: {total_amount: {min: low}}\n",
            r"bad\.yml: columns\.total_amount\.min: must be a number",
        ),
        ("entity: customers\ncsv: {delimiter: ';;'}\ncolumns: {email: {}}\n", r"bad\.yml: csv\.delimiter"),
        (
            "entity: customers\ncolumns: {email: {on_invalid: drop}}\n",
            r"bad\.yml: columns\.email\.on_invalid",
        ),
        (
            "entity: customers\ncolumns: {nulled_fields: {}}\n",
            r"bad\.yml: columns\.nulled_fields: is filled by ingestion",
        ),
        (
            "entity: customers\ncolumns: {source_customer_id: {on_invalid: 'null'}}\n",
            r"bad\.yml: columns\.source_customer_id\.on_invalid: source_customer_id is a key of customers",
        ),
        ("entity: [customers\n", r"bad\.yml: not valid YAML"),
    ],
)
def test_invalid_declarations_name_file_and_field(tmp_path, text, message):
    p = write(tmp_path, "bad", text)
    with pytest.raises(DeclarationError, match=message):
        load_declaration(p)
    with pytest.raises(DeclarationError, match=message):
        load_declarations(tmp_path)


def test_customer_non_key_fields_null_on_invalid_keys_and_other_entities_quarantine(decls):
    cust = decls["customers"].columns
    assert {c: cust[c].on_invalid for c in KEY_COLUMNS["customers"]} == {
        "source_system": "quarantine",
        "source_customer_id": "quarantine",
    }
    assert {cust[c].on_invalid for c in cust if c not in KEY_COLUMNS["customers"]} == {"null"}
    assert decls["orders"].columns["total_amount"].on_invalid == "quarantine"


def test_minimal_declaration_defaults(tmp_path):
    write(
        tmp_path,
        "shop_b",
        "entity: orders\nsource_system: shopb\ncolumns:\n  order_id: {required: true, from: [เลขที่]}\n"
        "  total_amount: {}\n  ordered_at: {}\n",
    )
    d = load_declarations(tmp_path)["shop_b"]
    assert d.formats == ("csv", "xlsx", "jsonl", "parquet")
    assert d.columns["total_amount"].normaliser == "amount"
    assert d.columns["ordered_at"].normaliser == "timestamp"
    assert d.columns["order_id"].aliases == ("order_id", "เลขที่")
    assert d.columns["source_system"].default == "shopb"
    assert d.required_columns == ["order_id"]
