"""The frozen audience of a send date: computed once, checked, and sent exactly as checked.

`freeze` writes `<snapshots_dir>/<send_date>/`: `gate.parquet` (what the audience gate
validates: every audience row with its consent and suppression reason), `eligible.parquet` (the
rows that will be sent, with every column rendering and delivery read, quiet-hours `not_before`
included) and `manifest.json` (as_of, send date, counts, the sha256 of each file, the sha256 of
the plan text the messages are rendered with, and `sha256`: the snapshot's content hash over all
of these). `thaw` reads it back into `PreparedCampaigns` after checking every hash; a snapshot
that differs from the hash the gate recorded, or a plan that changed since the freeze, is
refused with a `SnapshotError` naming what differs. Nothing is recomputed: no new clock, no new
audience, no new suppression.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from activations.audiences.messages import PreparedCampaigns
from activations.audiences.prepare import AudienceFrames, assemble
from activations.plan.spec import Plan

GATE_FILE = "gate.parquet"
ELIGIBLE_FILE = "eligible.parquet"
MANIFEST_FILE = "manifest.json"


class SnapshotError(RuntimeError):
    """A frozen audience that is missing, altered, or made for another plan: nothing is sent."""


@dataclass(frozen=True)
class Snapshot:
    folder: Path
    sha256: str
    manifest: dict[str, Any]


def snapshot_folder(snapshots_dir: str | Path, send_date: date) -> Path:
    return Path(snapshots_dir) / send_date.isoformat()


def plan_sha256(plan_text: str) -> str:
    return hashlib.sha256(plan_text.encode("utf-8")).hexdigest()


def _file_sha(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _content_sha(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _for_parquet(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reset_index(drop=True).copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(str)
    return out


def freeze(frames: AudienceFrames, plan_text: str, snapshots_dir: str | Path) -> Snapshot:
    """Write the send date's snapshot (replacing an older one of that date) and return its hash."""
    folder = snapshot_folder(snapshots_dir, frames.send_date)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".tmp"
    tmp.mkdir(exist_ok=True)
    _for_parquet(frames.gate_frame).to_parquet(tmp / GATE_FILE, index=False)
    _for_parquet(frames.eligible).to_parquet(tmp / ELIGIBLE_FILE, index=False)
    body = {
        "as_of": frames.as_of.isoformat(),
        "send_date": frames.send_date.isoformat(),
        "plan_sha256": plan_sha256(plan_text),
        "counts": frames.summary.counts,
        "suppressed": [
            {"campaign_id": c, "channel": ch, "reasons": r}
            for (c, ch), r in sorted(frames.suppressed_counts.items())
        ],
        "notes": frames.summary.notes,
        "entered": frames.summary.entered,
        "follow_ups": frames.summary.follow_ups,
        "files": {name: _file_sha(tmp / name) for name in (GATE_FILE, ELIGIBLE_FILE)},
    }
    manifest = {**body, "sha256": _content_sha(body)}
    (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    for name in (GATE_FILE, ELIGIBLE_FILE, MANIFEST_FILE):  # the manifest last: a torn freeze has none
        os.replace(tmp / name, folder / name)
    tmp.rmdir()
    return Snapshot(folder=folder, sha256=manifest["sha256"], manifest=manifest)


def read_manifest(snapshots_dir: str | Path, send_date: date) -> dict[str, Any]:
    path = snapshot_folder(snapshots_dir, send_date) / MANIFEST_FILE
    if not path.exists():
        raise SnapshotError(
            f"no frozen audience for send date {send_date} ({path} is missing): materialize "
            "activations/campaign_audiences for this partition first"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def verify(snapshots_dir: str | Path, send_date: date, expected_sha256: str | None = None) -> Snapshot:
    """Check every file against the manifest and the manifest against `expected_sha256` (the hash
    the audience step recorded and the gate checked)."""
    folder = snapshot_folder(snapshots_dir, send_date)
    manifest = read_manifest(snapshots_dir, send_date)
    body = {k: v for k, v in manifest.items() if k != "sha256"}
    for name, sha in body.get("files", {}).items():
        path = folder / name
        if not path.exists() or _file_sha(path) != sha:
            raise SnapshotError(
                f"frozen audience {folder}: {name} was changed after it was checked; nothing sent"
            )
    actual = _content_sha(body)
    if actual != manifest.get("sha256"):
        raise SnapshotError(
            f"frozen audience {folder}: manifest.json was changed after it was checked; nothing sent"
        )
    if expected_sha256 is not None and actual != expected_sha256:
        raise SnapshotError(
            f"frozen audience {folder} has hash {actual[:12]}…, but the checked audience had {expected_sha256[:12]}…: "
            "the audience changed after its gate; rerun activations/campaign_audiences (and its checks) first"
        )
    return Snapshot(folder=folder, sha256=actual, manifest=manifest)


def gate_frame(snapshots_dir: str | Path, send_date: date) -> tuple[pd.DataFrame, Snapshot]:
    """The audience gate's input, read from the verified snapshot."""
    snap = verify(snapshots_dir, send_date)
    return pd.read_parquet(snap.folder / GATE_FILE), snap


def thaw(
    snapshots_dir: str | Path, send_date: date, plan: Plan, plan_text: str, expected_sha256: str | None
) -> tuple[PreparedCampaigns, Snapshot]:
    """The checked snapshot as PreparedCampaigns (messages render from the frozen rows)."""
    snap = verify(snapshots_dir, send_date, expected_sha256)
    m = snap.manifest
    if m["plan_sha256"] != plan_sha256(plan_text):
        raise SnapshotError(
            f"the plan changed since the audience of {send_date} was frozen and checked; rerun "
            "activations/campaign_audiences (and its checks) before sending"
        )
    eligible = pd.read_parquet(snap.folder / ELIGIBLE_FILE)
    if "not_before" in eligible:
        eligible["not_before"] = (
            eligible["not_before"].astype(object).where(eligible["not_before"].notna(), None)
        )
    suppressed = {(s["campaign_id"], s["channel"]): dict(s["reasons"]) for s in m["suppressed"]}
    prepared = assemble(plan, date.fromisoformat(m["as_of"]), send_date, m["counts"], suppressed, eligible)
    return prepared, snap


def prepare_and_freeze(
    warehouse_path: str | Path,
    plan_path: str | Path,
    as_of: date,
    send_date: date,
    now,
    lake_dir: str | Path,
    snapshots_dir: str | Path,
    progress=None,
) -> tuple[PreparedCampaigns, Snapshot]:
    """The audience step: compute audiences, memberships and suppressions once, write their audit
    tables, freeze the result, and return it as PreparedCampaigns (for counts and samples)."""
    import duckdb

    from activations.audiences.prepare import compute_frames, write_frames
    from activations.plan.spec import parse_plan

    plan_text = Path(plan_path).read_text(encoding="utf-8")
    plan = parse_plan(plan_text, str(plan_path))
    con = duckdb.connect(str(warehouse_path))
    try:
        frames = compute_frames(con, plan, as_of, send_date, now, Path(lake_dir), progress=progress)
        write_frames(con, frames)
    finally:
        con.close()
    snap = freeze(frames, plan_text, snapshots_dir)
    prepared = assemble(
        plan, as_of, send_date, frames.summary.counts, frames.suppressed_counts, frames.eligible
    )
    return prepared, snap


def thaw_for_send(
    snapshots_dir: str | Path, send_date: date, plan_path: str | Path, expected_sha256: str | None
) -> tuple[PreparedCampaigns, Snapshot]:
    """The channels step: the checked snapshot, refused when it or the plan changed since the check."""
    from activations.plan.spec import parse_plan

    if not expected_sha256:
        raise SnapshotError(
            f"no checked audience is recorded for send date {send_date}: materialize "
            "activations/campaign_audiences (its checks run with it) before the channels"
        )
    plan_text = Path(plan_path).read_text(encoding="utf-8")
    return thaw(snapshots_dir, send_date, parse_plan(plan_text, str(plan_path)), plan_text, expected_sha256)
