"""The frozen audience: what the gate checked is exactly what the channels send."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pandas as pd
import pytest

from activations.audiences.prepare import prepare_messages
from activations.audiences.snapshot import (
    ELIGIBLE_FILE,
    MANIFEST_FILE,
    SnapshotError,
    prepare_and_freeze,
    thaw_for_send,
)
from tests.activations.plan_fixture import DAILY_PLAN_PATH, daily_plan_text
from tests.activations.profiles_fixture import AS_OF, standard_rows, write_profiles

BKK = ZoneInfo("Asia/Bangkok")
SEND = AS_OF.replace(day=AS_OF.day + 1)
LATE = datetime(2026, 11, 22, 22, 30, tzinfo=BKK)  # SMS inside quiet hours: queued with not_before
MORNING = datetime(2026, 11, 22, 10, 0, tzinfo=BKK)


def _messages(prepared) -> list[tuple]:
    return [
        (m.key, m.send_id, m.to, m.subject, m.text, m.html, m.sms_body, m.not_before, m.language, m.fields)
        for m in prepared.messages()
    ]


def _freeze(tmp_path: Path, now: datetime = LATE):
    wh = write_profiles(tmp_path / "warehouse.duckdb", standard_rows(12))
    prepared, snap = prepare_and_freeze(
        wh, DAILY_PLAN_PATH, AS_OF, SEND, now, tmp_path / "lake", tmp_path / "snapshots"
    )
    return wh, prepared, snap


def test_thawed_snapshot_sends_exactly_what_was_prepared(tmp_path: Path):
    wh, prepared, snap = _freeze(tmp_path)
    # a fresh preparation of the same inputs and clock gives the same messages
    fresh = prepare_messages(wh, DAILY_PLAN_PATH, AS_OF, SEND, LATE)
    thawed, again = thaw_for_send(tmp_path / "snapshots", SEND, DAILY_PLAN_PATH, snap.sha256)
    assert again.sha256 == snap.sha256
    assert _messages(thawed) == _messages(prepared) == _messages(fresh)
    assert any(m.not_before is not None for m in thawed.messages("sms"))  # the freeze's clock, kept
    assert [b.metadata() for b in thawed.batches()] == [b.metadata() for b in prepared.batches()]


def test_sending_never_recomputes_the_audience(tmp_path: Path):
    wh, prepared, snap = _freeze(tmp_path)
    con = duckdb.connect(str(wh))
    con.execute("DELETE FROM marts.customer_profiles WHERE rank = 'VIP'")  # the warehouse moves on
    con.close()
    thawed, _ = thaw_for_send(tmp_path / "snapshots", SEND, DAILY_PLAN_PATH, snap.sha256)
    assert _messages(thawed) == _messages(prepared)
    assert len(thawed.campaigns["vip_party"].channels["phone"].messages) > 0


def test_a_changed_snapshot_is_refused(tmp_path: Path):
    _, _, snap = _freeze(tmp_path)
    eligible = pd.read_parquet(snap.folder / ELIGIBLE_FILE)
    eligible.iloc[:-1].to_parquet(snap.folder / ELIGIBLE_FILE, index=False)  # one recipient fewer
    with pytest.raises(SnapshotError, match="eligible.parquet was changed after it was checked"):
        thaw_for_send(tmp_path / "snapshots", SEND, DAILY_PLAN_PATH, snap.sha256)


def test_a_manifest_edited_to_match_is_refused(tmp_path: Path):
    _, _, snap = _freeze(tmp_path)
    manifest = json.loads((snap.folder / MANIFEST_FILE).read_text())
    manifest["counts"]["vip_party"]["phone"]["audience"] += 1
    (snap.folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match="manifest.json was changed"):
        thaw_for_send(tmp_path / "snapshots", SEND, DAILY_PLAN_PATH, snap.sha256)


def test_an_audience_rebuilt_after_its_gate_is_refused(tmp_path: Path):
    wh, _, checked = _freeze(tmp_path, LATE)
    # the audiences are computed again (another clock) after the gate passed the first freeze
    _, rebuilt = prepare_and_freeze(
        wh, DAILY_PLAN_PATH, AS_OF, SEND, MORNING, tmp_path / "lake", tmp_path / "snapshots"
    )
    assert rebuilt.sha256 != checked.sha256
    with pytest.raises(SnapshotError, match="the audience changed after its gate"):
        thaw_for_send(tmp_path / "snapshots", SEND, DAILY_PLAN_PATH, checked.sha256)
    with pytest.raises(SnapshotError, match="no checked audience is recorded"):
        thaw_for_send(tmp_path / "snapshots", SEND, DAILY_PLAN_PATH, None)


def test_a_plan_changed_after_the_freeze_is_refused(tmp_path: Path):
    _, _, snap = _freeze(tmp_path)
    edited = tmp_path / "plan.yml"
    edited.write_text(
        daily_plan_text().replace("Thank you for choosing", "Thanks for choosing"), encoding="utf-8"
    )
    with pytest.raises(SnapshotError, match="the plan changed since the audience"):
        thaw_for_send(tmp_path / "snapshots", SEND, edited, snap.sha256)


def test_channels_asset_refuses_a_snapshot_changed_after_the_gate(tmp_path: Path, monkeypatch):
    from orchestration.defs import activation
    from orchestration.defs.quality import audience_quality_checks
    from orchestration.defs.resources import CrmSettings

    home = tmp_path / "home"
    home.mkdir()
    write_profiles(home / "warehouse.duckdb", standard_rows(6))
    monkeypatch.setenv("CRM_HOME", str(home))
    monkeypatch.setenv("CRM_PLAN", str(DAILY_PLAN_PATH))
    monkeypatch.setenv("CRM_ACTIVATION_MODE", "sandbox")
    instance = dg.DagsterInstance.ephemeral()
    parts = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="Asia/Bangkok")
    assets = [activation.build_campaign_audiences(parts), activation.build_channels(parts)]
    resources = {"crm": CrmSettings(), "providers": activation.ProviderSecrets()}
    pk = AS_OF.isoformat()
    gated = [*assets, *audience_quality_checks(partitions_def=parts)]
    checks = dg.materialize(  # the audiences and their gate, as the daily run does
        gated,
        selection=[activation.AUDIENCES],
        partition_key=pk,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert checks.success
    evaluations = checks.get_asset_check_evaluations()
    recorded = activation.recorded_snapshot_sha256(instance, pk)
    assert recorded and all(e.metadata["snapshot_sha256"].value == recorded for e in evaluations)
    folder = home / "snapshots" / SEND.isoformat()
    eligible = pd.read_parquet(folder / ELIGIBLE_FILE)
    eligible.iloc[1:].to_parquet(folder / ELIGIBLE_FILE, index=False)
    sent = dg.materialize(
        assets,
        selection=[activation.EMAIL, activation.SMS, activation.FILES],
        partition_key=pk,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not sent.success
    failure = next(e for e in sent.all_events if e.is_step_failure)
    cause = failure.step_failure_data.error.cause
    assert cause.cls_name == "SnapshotError"
    assert "eligible.parquet was changed after it was checked; nothing sent" in cause.message
    assert not (home / "outbox").exists() or not any((home / "outbox").rglob("*.json*"))
    assert not (home / "exports").exists()
