"""The campaign state enters the lake like every source: the step writes its own files
(`<home>/campaign_state/`) and the ingestion code loads them with their declarations
(sources/declarations/campaign_sends.yml, campaign_plan.yml), quarantining a bad row with file,
row and reason instead of writing it."""

from __future__ import annotations

import pyarrow.parquet as pq

from activations.delivery.campaign_state import export_campaign_state
from activations.plan.spec import DEFAULT_PLAN_PATH, load_plan
from sources import entity_schema, load_declarations
from tests.campaigns.scenario import EMAIL_CAMPAIGN, SEND, email, write_state_warehouse

BLANK_ID = "   "  # an audience member without a customer id (blank after trimming)


def test_a_bad_row_of_the_campaign_state_is_quarantined_with_file_row_and_reason(tmp_path):
    wh, lake, quarantine = tmp_path / "warehouse.duckdb", tmp_path / "lake", tmp_path / "quarantine"
    audience = [
        (EMAIL_CAMPAIGN, f"C{n}", "email", False, "segment", email(n), SEND, SEND) for n in (1, 2, 3)
    ] + [(EMAIL_CAMPAIGN, BLANK_ID, "email", False, "segment", email(4), SEND, SEND)]
    write_state_warehouse(wh, audience, [], [(EMAIL_CAMPAIGN, "C1", "email", email(1), "sent", None)])

    out = export_campaign_state(
        wh,
        lake,
        load_plan(DEFAULT_PLAN_PATH),
        SEND,
        state_dir=tmp_path / "campaign_state",
        quarantine_dir=quarantine,
    )

    sends = out["ingest"]["campaign_sends"]
    assert (sends.rows_in, sends.rows_loaded, sends.rows_quarantined) == (4, 3, 1)
    assert out["campaign_sends"] == 3
    part = lake / "campaign_sends" / f"load_date={SEND.isoformat()}"
    loaded = pq.read_table(part)
    assert sorted(loaded.column("customer_id").to_pylist()) == ["C1", "C2", "C3"]
    # the row is in the quarantine with the file it came from, its row and the reason
    rows = pq.read_table(quarantine / "campaign_sends" / f"load_date={SEND.isoformat()}").to_pylist()
    state_file = f"campaign_sends/{SEND.isoformat()}/campaign_sends.parquet"
    [bad] = rows
    assert (bad["file"], bad["reason"]) == (state_file, "missing:customer_id")
    # compose orders by campaign, channel, customer: the blank id sorts first, data row 1
    assert bad["row"] == 1


def test_the_lake_files_of_the_campaign_state_are_the_ingestion_codes(tmp_path):
    """Named and stamped by the declared source, typed by its declaration's entity schema."""
    wh = tmp_path / "warehouse.duckdb"
    write_state_warehouse(
        wh,
        [(EMAIL_CAMPAIGN, "C1", "email", False, "segment", email(1), SEND, SEND)],
        [],
        [(EMAIL_CAMPAIGN, "C1", "email", email(1), "sent", None)],
    )
    export_campaign_state(
        wh,
        tmp_path / "lake",
        load_plan(DEFAULT_PLAN_PATH),
        SEND,
        state_dir=tmp_path / "campaign_state",
        quarantine_dir=tmp_path / "quarantine",
    )
    declared = load_declarations(include_produced=True)
    for source in ("campaign_sends", "campaign_plan"):
        decl = declared[source]
        assert decl.produced_by == "campaign_state"
        files = sorted((tmp_path / "lake" / decl.entity / f"load_date={SEND.isoformat()}").iterdir())
        assert [f.name for f in files] == [f"{source}-0000.parquet"]
        table = pq.read_table(files[0])
        assert table.schema.equals(entity_schema(decl.entity))
        assert set(table.column("_source").to_pylist()) == {source}
        assert set(table.column("_source_file").to_pylist()) == {
            f"{source}/{SEND.isoformat()}/{source}.parquet"
        }


def test_a_home_from_before_keeps_each_send_once(tmp_path):
    """Before the campaign state was ingested, its step wrote `activations-0000.parquet` into the
    lake partition itself; rerunning that send date replaces it, so dbt never reads a send twice."""
    import shutil

    wh, lake = tmp_path / "warehouse.duckdb", tmp_path / "lake"
    write_state_warehouse(
        wh,
        [(EMAIL_CAMPAIGN, "C1", "email", False, "segment", email(1), SEND, SEND)],
        [],
        [(EMAIL_CAMPAIGN, "C1", "email", email(1), "sent", None)],
    )
    args = dict(state_dir=tmp_path / "campaign_state", quarantine_dir=tmp_path / "q")
    plan = load_plan(DEFAULT_PLAN_PATH)
    export_campaign_state(wh, lake, plan, SEND, **args)
    for entity in ("campaign_sends", "campaign_plan"):  # what the old writer left
        part = lake / entity / f"load_date={SEND.isoformat()}"
        shutil.copyfile(part / f"{entity}-0000.parquet", part / "activations-0000.parquet")
        (part / f"{entity}-0000.parquet").unlink()
    export_campaign_state(wh, lake, plan, SEND, **args)
    for entity in ("campaign_sends", "campaign_plan"):
        part = lake / entity / f"load_date={SEND.isoformat()}"
        assert sorted(p.name for p in part.iterdir()) == [f"{entity}-0000.parquet"]
    assert pq.read_table(lake / "campaign_sends").num_rows == 1
