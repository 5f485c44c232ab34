"""Which lake partitions the warehouse may read: a durable status per source × load date.

Dagster's blocking checks stop downstream only within one run, so a partition that failed an
ERROR check today would be read by tomorrow's build. This store carries the verdict across runs:

- `blocked`: an ERROR check of `lake/<source>` failed on that load date. The warehouse build
  leaves the partition's rows out (the dbt `lake()` macro reads `CRM_LAKE_BLOCKED`).
- `admitted`: a later check of that partition passed (new files were re-ingested and passed): the
  block is cleared.
- `released`: a person let the partition in as it is (`crmloop release SOURCE DATE --reason ...`),
  recorded with who, when and why. A re-check of the same landing files keeps the release; a
  re-delivery (other files) that fails blocks it again.

One JSON file per partition that ever failed: `<lake>/_status/<source>/<YYYY-MM-DD>.json` (a clean
partition writes nothing). Every change is appended to the record's `history`. Plain Python, no
Dagster: orchestration/ records check results here and passes the blocked set to dbt.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

STATUS_DIR = "_status"
BLOCKED, ADMITTED, RELEASED = "blocked", "admitted", "released"
# the dbt lake() macro reads this: comma-separated `<entity>:<source>@<YYYY-MM-DD>` (dbt_project/macros/lake.sql)
BLOCKED_ENV = "CRM_LAKE_BLOCKED"
# "1" when the blocked set differs from the last successful warehouse build's: incremental models
# that read the lake recompute everything (a released partition's rows come in, a blocked one's go)
ADMISSION_CHANGED_ENV = "CRM_LAKE_ADMISSION_CHANGED"
_LAST_BUILD = "warehouse_build.json"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class StatusError(ValueError):
    """A status change that is not allowed (names the partition and why)."""


@dataclass(frozen=True)
class PartitionStatus:
    source: str
    entity: str
    load_date: date
    state: str
    reason: str  # the failed ERROR expectations when blocked
    landing_fingerprint: str  # of the landing files the last check judged
    recorded_at: str
    released_by: str | None = None
    released_at: str | None = None
    release_reason: str | None = None
    history: list[dict] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.source}@{self.load_date.isoformat()}"

    def release_command(self) -> str:
        return f'crmloop release {self.source} {self.load_date.isoformat()} --reason "..."'

    def as_dict(self) -> dict:
        d = asdict(self)
        d["load_date"] = self.load_date.isoformat()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PartitionStatus:
        return cls(**{**d, "load_date": date.fromisoformat(d["load_date"])})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_name(kind: str, value: str) -> str:
    if not _NAME.match(value):
        raise StatusError(f"{kind} {value!r} is not a valid name (letters, digits, _ . -)")
    return value


def status_path(lake_dir: Path, source: str, load_date: date) -> Path:
    return Path(lake_dir) / STATUS_DIR / _check_name("source", source) / f"{load_date.isoformat()}.json"


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a record


def read_status(lake_dir: Path, source: str, load_date: date) -> PartitionStatus | None:
    path = status_path(lake_dir, source, load_date)
    if not path.is_file():
        return None
    try:
        return PartitionStatus.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, KeyError) as exc:
        raise StatusError(f"{path}: unreadable partition status ({exc})") from exc


def all_statuses(lake_dir: Path) -> list[PartitionStatus]:
    root = Path(lake_dir) / STATUS_DIR
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.glob("*/*.json")):
        try:
            d = date.fromisoformat(path.stem)
        except ValueError:
            continue
        status = read_status(lake_dir, path.parent.name, d)
        if status is not None:
            out.append(status)
    return out


def landing_fingerprint(landing_dir: Path, source: str, load_date: date) -> str:
    """Names, sizes and modification times of a source's landing files for one date: a re-delivered
    file (copied again, or changed) gets a new fingerprint."""
    digest = hashlib.sha256()
    folder = Path(landing_dir) / source / load_date.isoformat()
    if folder.is_dir():
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                st = f.stat()
                digest.update(f"{f.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def record_check(
    lake_dir: Path,
    source: str,
    entity: str,
    load_date: date,
    *,
    passed: bool,
    failures: list[str],
    landing_fingerprint: str,
    now: str | None = None,
) -> PartitionStatus | None:
    """Record the verdict of the ERROR check of one partition; returns the status (None: clean and
    never blocked, nothing recorded)."""
    now = now or _now()
    prev = read_status(lake_dir, source, load_date)
    if passed and (prev is None or prev.state == ADMITTED):
        return prev
    reason = "; ".join(failures) if failures else ""
    if passed:
        state = ADMITTED
        event = {"at": now, "state": ADMITTED, "why": "the ERROR check passed (re-ingested files)"}
    elif prev is not None and prev.state == RELEASED and prev.landing_fingerprint == landing_fingerprint:
        state = RELEASED  # the same files a person released: the release stands
        event = {"at": now, "state": RELEASED, "why": f"checked again, still failing, release kept: {reason}"}
    else:
        state = BLOCKED
        event = {"at": now, "state": BLOCKED, "why": reason}
    base = prev or PartitionStatus(
        source=source,
        entity=entity,
        load_date=load_date,
        state=state,
        reason=reason,
        landing_fingerprint=landing_fingerprint,
        recorded_at=now,
    )
    keep_release = state == RELEASED
    status = replace(
        base,
        entity=entity,
        state=state,
        reason=reason,
        landing_fingerprint=landing_fingerprint,
        recorded_at=now,
        released_by=base.released_by if keep_release else None,
        released_at=base.released_at if keep_release else None,
        release_reason=base.release_reason if keep_release else None,
        history=[*base.history, event],
    )
    _write_json(status_path(lake_dir, source, load_date), status.as_dict())
    return status


def release(
    lake_dir: Path, source: str, load_date: date, *, reason: str, by: str, now: str | None = None
) -> PartitionStatus:
    """A person lets a blocked partition into the warehouse as it is."""
    if not reason or not reason.strip():
        raise StatusError('a release needs a reason (--reason "..."): it is recorded with the release')
    prev = read_status(lake_dir, source, load_date)
    if prev is None or prev.state != BLOCKED:
        state = "never blocked" if prev is None else prev.state
        held = ", ".join(s.key for s in held_back(lake_dir)) or "none"
        raise StatusError(
            f"{source} {load_date.isoformat()} is not blocked ({state}): nothing to release. "
            f"Blocked partitions: {held}"
        )
    now = now or _now()
    status = replace(
        prev,
        state=RELEASED,
        released_by=by,
        released_at=now,
        release_reason=reason.strip(),
        history=[*prev.history, {"at": now, "state": RELEASED, "why": reason.strip(), "by": by}],
    )
    _write_json(status_path(lake_dir, source, load_date), status.as_dict())
    return status


def held_back(lake_dir: Path, *, up_to: date | None = None) -> list[PartitionStatus]:
    """The blocked partitions (load date <= up_to), oldest first."""
    return sorted(
        (s for s in all_statuses(lake_dir) if s.state == BLOCKED and (up_to is None or s.load_date <= up_to)),
        key=lambda s: (s.load_date, s.source),
    )


def blocked_env_value(statuses: list[PartitionStatus]) -> str:
    """What the dbt lake() macro reads from CRM_LAKE_BLOCKED."""
    return ",".join(
        sorted(f"{s.entity}:{s.source}@{s.load_date.isoformat()}" for s in statuses if s.state == BLOCKED)
    )


def redelivered(lake_dir: Path, landing_dir: Path, sources: Collection[str]) -> list[PartitionStatus]:
    """Blocked partitions of `sources` (those delivered to `landing_dir`) whose landing files
    changed since their check: to be ingested again. A source the pipeline produces itself
    (campaign_sends) is never redelivered: rerunning its step writes it again."""
    return [
        s
        for s in held_back(lake_dir)
        if s.source in sources
        and landing_fingerprint(landing_dir, s.source, s.load_date) != s.landing_fingerprint
    ]


def admission_changed(lake_dir: Path, blocked_value: str) -> bool:
    """Whether the blocked set differs from the one the last successful warehouse build used."""
    path = Path(lake_dir) / STATUS_DIR / _LAST_BUILD
    last = ""
    if path.is_file():
        last = json.loads(path.read_text(encoding="utf-8")).get("blocked", "")
    return last != blocked_value


def record_warehouse_build(lake_dir: Path, blocked_value: str, as_of: date) -> None:
    """After a successful warehouse build: the blocked set it left out."""
    _write_json(
        Path(lake_dir) / STATUS_DIR / _LAST_BUILD,
        {"blocked": blocked_value, "as_of": as_of.isoformat(), "built_at": _now()},
    )
