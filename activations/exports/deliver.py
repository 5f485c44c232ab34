"""Each campaign's export files delivered where marketers work: the plan's `file_deliveries`
(SFTP, or email with the files attached through the SendGrid client) named by the campaign's
`deliver_files`, once per campaign × send date × destination.

    deliver_exports(manifests, plan, exports_dir, cfg, send_date) -> {campaign_id: [delivery, ...]}

The ledger is `activations.file_deliveries` in the warehouse (key: campaign_id, send_date,
destination). Before an attempt its row is `pending`; then `delivered` (with when, where, the
files' SHA-256 and the attempts), `failed` (nothing was accepted: the next run tries again) or
`ambiguous` (an email whose answer was lost: it may have gone, so it is never sent again by
itself; `crmloop`'s operator decides). A rerun of the same send date never delivers a
`delivered` destination again: its manifest says when it was delivered. A `pending` SFTP row (a
run died mid-upload) is uploaded again: it writes the same names with the same bytes, nobody
receives anything twice; a `pending` email row becomes `ambiguous`.

Every delivery is recorded in the campaign's `manifest.json` under `deliveries`: destination,
kind, where (sftp://user@host:port/folder, or the recipients), when, status, attempts, and per
file its name, bytes and SHA-256 (for SFTP as read back from the server).

In sandbox mode nothing leaves the machine: an SFTP delivery copies the files to
`<outbox>/files/<send_date>/<destination>/<remote folder>/`, an email delivery writes the exact
SendGrid request it would post to `<outbox>/files/<send_date>/<destination>/<campaign>.sendgrid.json`.
Secrets (SFTP password or key, SENDGRID_API_KEY) come from the environment only.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from activations.exports.files import sha256_file, write_manifest
from activations.plan.spec import FileDelivery, Plan
from crmloop.settings import DeliveryConfig

FILE_DELIVERIES = "activations.file_deliveries"
DDL = f"""
CREATE SCHEMA IF NOT EXISTS activations;
CREATE TABLE IF NOT EXISTS {FILE_DELIVERIES} (
    campaign_id VARCHAR NOT NULL,
    send_date DATE NOT NULL,
    destination VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    files_json VARCHAR,
    attempts INTEGER NOT NULL DEFAULT 0,
    provider_id VARCHAR,
    reason VARCHAR,
    intent_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    PRIMARY KEY (campaign_id, send_date, destination)
);
"""
MIME = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv",
}
KIND_OF_FILE = {"xlsx": "xlsx", "csv": "csv"}  # manifest file kind -> EmailDelivery.files kind


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)


def _files(
    folder: Path, manifest: dict[str, Any], kinds: tuple[str, ...] | list[str]
) -> list[dict[str, Any]]:
    """The campaign's export files of these kinds (xlsx, csv) with bytes and SHA-256 as on disk now."""
    out = []
    for f in manifest.get("files", []):
        if KIND_OF_FILE.get(f["kind"]) not in kinds:
            continue
        p = folder / f["name"]
        out.append({"name": f["name"], "bytes": p.stat().st_size, "sha256": sha256_file(p), "path": p})
    return out


def _target(dest: FileDelivery, remote_dir: str) -> str:
    if dest.sftp is not None:
        s = dest.sftp
        return f"sftp://{s.username}@{s.host}:{s.port}/{remote_dir.lstrip('/')}"
    return ", ".join(dest.email.to)


class FileDeliveryLedger:
    def __init__(self, warehouse_path: Path | str):
        Path(warehouse_path).parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(warehouse_path))
        self.con.execute(DDL)

    def close(self) -> None:
        self.con.close()

    def get(self, campaign_id: str, send_date: date, destination: str) -> dict[str, Any] | None:
        rows = self.con.execute(
            f"SELECT status, target, files_json, attempts, provider_id, reason, delivered_at FROM {FILE_DELIVERIES}"
            " WHERE campaign_id = ? AND send_date = ? AND destination = ?",
            [campaign_id, send_date, destination],
        ).fetchall()
        if not rows:
            return None
        status, target, files_json, attempts, provider_id, reason, delivered_at = rows[0]
        return {
            "status": status,
            "target": target,
            "files": json.loads(files_json or "[]"),
            "attempts": attempts,
            "provider_id": provider_id,
            "reason": reason,
            "delivered_at": delivered_at,
        }

    def intend(self, campaign_id: str, send_date: date, destination: str, kind: str, target: str) -> None:
        self.con.execute(
            f"INSERT OR REPLACE INTO {FILE_DELIVERIES} (campaign_id, send_date, destination, kind, target, status,"
            " intent_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
            [campaign_id, send_date, destination, kind, target, _now()],
        )

    def record(
        self,
        campaign_id: str,
        send_date: date,
        destination: str,
        status: str,
        *,
        files: list[dict[str, Any]],
        attempts: int,
        provider_id: str | None = None,
        reason: str | None = None,
    ) -> datetime | None:
        at = _now() if status == "delivered" else None
        self.con.execute(
            f"UPDATE {FILE_DELIVERIES} SET status = ?, files_json = ?, attempts = ?, provider_id = ?, reason = ?,"
            " delivered_at = ? WHERE campaign_id = ? AND send_date = ? AND destination = ?",
            [
                status,
                json.dumps(files),
                attempts,
                provider_id,
                reason,
                at,
                campaign_id,
                send_date,
                destination,
            ],
        )
        return at


def _email_text(manifest: dict[str, Any], files: list[dict[str, Any]]) -> str:
    from activations.exports.numbers import count

    lines = [
        f"{manifest['name']} ({manifest['campaign_id']}): the files for the send date {manifest['send_date']}.",
        "",
    ]
    rows = {f["name"]: f.get("rows") for f in manifest.get("files", [])}
    for f in files:
        r = rows.get(f["name"])
        n = f" ({count(r)} rows)" if isinstance(r, int) else ""
        lines.append(f"- {f['name']}{n}, {count(f['bytes'])} bytes, SHA-256 {f['sha256']}")
    lines += ["", "Sent by crmloop; quote the send_id column in replies about a person."]
    return "\n".join(lines)


@dataclass(frozen=True)
class _Run:
    """What every delivery of one run shares."""

    plan: Plan
    cfg: DeliveryConfig
    env: Mapping[str, str]
    send_date: date
    sendgrid_base_url: str | None


def remote_folder(dest: FileDelivery, send_date: date, campaign_id: str) -> str:
    """Where an SFTP destination receives a campaign's files: <folder>/<send_date>/<campaign_id>."""
    return posixpath.join(dest.sftp.folder, send_date.isoformat(), campaign_id) if dest.sftp else ""


def _deliver_one(
    run: _Run, dest_name: str, dest: FileDelivery, manifest: dict[str, Any], folder: Path
) -> dict[str, Any]:
    """One destination, with retries: {status, files, attempts, where, provider_id, reason}."""
    campaign_id = manifest["campaign_id"]
    cfg, send_date = run.cfg, run.send_date
    if dest.sftp is not None:
        files = _files(folder, manifest, ("xlsx", "csv"))
        remote_dir = remote_folder(dest, send_date, campaign_id)
        if cfg.mode == "sandbox":
            out = cfg.outbox_dir / "files" / send_date.isoformat() / dest_name / remote_dir.lstrip("/")
            out.mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copyfile(f["path"], out / f["name"])
            return {"status": "delivered", "files": files, "attempts": 1, "where": f"sandbox: {out}"}
        from activations.channels.sftp import SftpUploader

        up = SftpUploader(dest.sftp, run.env, cfg.retry).upload([f["path"] for f in files], remote_dir)
        for f in files:  # what the server holds, read back
            f["sha256_remote"] = up.sha256[f["name"]]
        return {"status": "delivered", "files": files, "attempts": up.attempts, "where": up.url}
    from activations.channels.email import EmailClient, build_files_body, send_files_email

    files = _files(folder, manifest, tuple(dest.email.files))
    sender = run.plan.senders.email
    body = build_files_body(
        dest.email.to,
        f"crmloop files: {manifest['name']} · send date {send_date.isoformat()}",
        _email_text(manifest, files),
        [
            (f["name"], f["path"].read_bytes(), MIME.get(f["path"].suffix, "application/octet-stream"))
            for f in files
        ],
        sender=sender.address,
        sender_name=sender.name or cfg.from_name,
        custom_args={
            "campaign_id": campaign_id,
            "send_date": send_date.isoformat(),
            "file_delivery": dest_name,
        },
    )
    if cfg.mode == "sandbox":
        out = cfg.outbox_dir / "files" / send_date.isoformat() / dest_name
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{campaign_id}.sendgrid.json"
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        return {"status": "delivered", "files": files, "attempts": 1, "where": f"sandbox: {path}"}
    client = EmailClient(cfg, run.sendgrid_base_url)
    try:
        status, msg_id, attempts, reason = send_files_email(client, body)
    finally:
        client.close()
    return {
        "status": "delivered" if status == "sent" else status,
        "files": files,
        "attempts": attempts,
        "provider_id": msg_id,
        "reason": None if status == "sent" else reason,
        "where": ", ".join(dest.email.to),
    }


def deliver_exports(
    manifests: Mapping[str, dict[str, Any]],
    plan: Plan,
    exports_dir: Path | str,
    cfg: DeliveryConfig,
    send_date: date,
    *,
    env: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    sendgrid_base_url: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Deliver every exported campaign's files to its `deliver_files` destinations, once.
    Returns campaign_id -> the deliveries written into its manifest. A campaign that exported no
    file delivers nothing."""
    env = os.environ if env is None else env
    out: dict[str, list[dict[str, Any]]] = {}
    todo = [
        (cid, m, plan.campaign(cid).deliver_files)
        for cid, m in manifests.items()
        if m.get("files") and plan.campaign(cid).deliver_files
    ]
    if not todo:
        return out
    run = _Run(plan, cfg, env, send_date, sendgrid_base_url)
    ledger = FileDeliveryLedger(cfg.warehouse_path)
    try:
        for cid, manifest, names in todo:
            folder = Path(exports_dir) / send_date.isoformat() / cid
            records = []
            for name in names:
                dest = plan.file_deliveries[name]
                records.append(_deliver_destination(run, ledger, name, dest, manifest, folder))
                if progress:
                    r = records[-1]
                    progress(
                        f"files: {cid} → {name} ({r['kind']}): {r['status']} {r.get('where', '')}".rstrip()
                    )
            manifest["deliveries"] = records
            write_manifest(folder, manifest)
            out[cid] = records
    finally:
        ledger.close()
    return out


def _public(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in f.items() if k != "path"} for f in files]


def _deliver_destination(
    run: _Run,
    ledger: FileDeliveryLedger,
    name: str,
    dest: FileDelivery,
    manifest: dict[str, Any],
    folder: Path,
) -> dict[str, Any]:
    """One campaign × destination through the ledger: delivered once, never again."""
    cid, send_date, cfg = manifest["campaign_id"], run.send_date, run.cfg
    target = _target(dest, remote_folder(dest, send_date, cid))
    record = {"destination": name, "kind": dest.kind, "where": target}
    prev = ledger.get(cid, send_date, name)
    if prev is not None and prev["status"] == "delivered":
        return {
            **record,
            "status": "delivered",
            "delivered_at": prev["delivered_at"].isoformat(timespec="seconds") + "Z",
            "files": prev["files"],
            "attempts": prev["attempts"],
            "note": "already delivered by an earlier run of this send date: not sent again",
        }
    if prev is not None and dest.email is not None and prev["status"] in ("pending", "ambiguous"):
        # an email that may have gone: never sent again by itself
        reason = prev["reason"] or "a run stopped after posting it: SendGrid may have accepted it"
        ledger.record(
            cid, send_date, name, "ambiguous", files=prev["files"], attempts=prev["attempts"], reason=reason
        )
        return {
            **record,
            "status": "ambiguous",
            "files": prev["files"],
            "reason": reason,
            "note": "not sent again",
        }
    ledger.intend(cid, send_date, name, dest.kind, target)
    try:
        result = _deliver_one(run, name, dest, manifest, folder)
    except Exception as exc:
        from activations.channels.sftp import SftpDeliveryError
        from activations.delivery.resilience import Retry
        from crmloop.settings import DeliveryConfigError

        if not isinstance(exc, SftpDeliveryError | DeliveryConfigError | Retry):
            raise
        reason = f"{type(exc).__name__}: {exc}"
        attempts = cfg.retry.max_attempts if isinstance(exc, Retry) else 1
        ledger.record(cid, send_date, name, "failed", files=[], attempts=attempts, reason=reason)
        return {**record, "status": "failed", "reason": reason, "files": [], "attempts": attempts}
    files = _public(result["files"])
    at = ledger.record(
        cid,
        send_date,
        name,
        result["status"],
        files=files,
        attempts=result["attempts"],
        provider_id=result.get("provider_id"),
        reason=result.get("reason"),
    )
    entry = {**record, "where": result.get("where", target), "status": result["status"], "files": files}
    entry["attempts"] = result["attempts"]
    if at is not None:
        entry["delivered_at"] = at.isoformat(timespec="seconds") + "Z"
    if result.get("provider_id"):
        entry["provider_id"] = result["provider_id"]
    if result.get("reason"):
        entry["reason"] = result["reason"]
    return entry
