"""Durable, group-committed appends to the landing zone.

Every accepted webhook becomes JSON lines in ``<landing>/<source>/<YYYY-MM-DD>/``. A request
is answered only after its lines are written, flushed and fsynced (and, for a new file, its
directory entry too). Concurrent requests are batched by one writer thread into one write and
one fsync per touched file (group commit), so throughput does not fall to one fsync per request.

Files and concurrent readers: lines go to an in-flight segment named
``.<prefix>-<writer>-<seq>.jsonl.inflight`` (a dot file with a non-data extension: ``*.jsonl``
globs and the ingestion readers do not see it), which is sealed by an atomic rename to
``<prefix>-<writer>-<seq>.jsonl`` when it is ``seal_seconds`` old, reaches
``max_segment_bytes``, or the writer closes. A reader of ``*.jsonl`` therefore only ever sees
complete files of complete lines. On start, leftover in-flight segments of a crashed writer are
truncated to their last complete line (a partial line was never acknowledged) and sealed.
"""

from __future__ import annotations

import asyncio
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sources.webhooks.events import LandingRecord

INFLIGHT_SUFFIX = ".jsonl.inflight"
# The receiver's replay memory (sources/webhooks/replays.py), committed with the rows it guards.
# A dot folder: landing_partitions() and the ingestion readers never take it for a source.
REPLAY_SOURCE = ".webhooks/replays"
LANDED_SOURCES = ("email_events", "sms_events", "consents")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_durable(path: Path) -> None:
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    for d in reversed(missing):
        _fsync_dir(d.parent)


def _sealed_name(inflight: Path) -> Path:
    return inflight.with_name(inflight.name[1 : -len(INFLIGHT_SUFFIX)] + ".jsonl")


def recover_inflight(landing_dir: Path) -> list[Path]:
    """Seal in-flight segments left by a writer that did not close: drop a trailing partial
    line, rename to ``*.jsonl`` (or delete if empty). Returns the sealed files."""
    sealed: list[Path] = []
    for source in (*LANDED_SOURCES, REPLAY_SOURCE):
        for inflight in sorted((landing_dir / source).glob(f"*/.*{INFLIGHT_SUFFIX}")):
            data = inflight.read_bytes()
            keep = data.rfind(b"\n") + 1
            if keep == 0:
                inflight.unlink()
                continue
            with open(inflight, "r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())
            target = _sealed_name(inflight)
            os.replace(inflight, target)
            _fsync_dir(target.parent)
            sealed.append(target)
    return sealed


@dataclass
class _Segment:
    path: Path
    fd: int
    opened: float
    size: int = 0


@dataclass
class _Job:
    chunks: dict[tuple[str, str, str], list[bytes]]
    done: Callable[[BaseException | None], None]
    rows: int = 0


@dataclass
class WriterStats:
    commits: int = 0  # fsync rounds
    requests: int = 0
    rows: int = 0
    files_sealed: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)


class LandingWriter:
    """One writer thread that owns the open segments; ``append``/``append_async`` block until
    the records are durable on disk."""

    def __init__(
        self,
        landing_dir: Path,
        *,
        seal_seconds: float = 60.0,
        max_segment_bytes: int = 64 * 1024 * 1024,
        fsync: bool = True,
        writer_id: str | None = None,
    ) -> None:
        self.landing_dir = Path(landing_dir)
        self.seal_seconds = seal_seconds
        self.max_segment_bytes = max_segment_bytes
        self.fsync = fsync
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.writer_id = writer_id or f"{stamp}-{os.getpid()}-{secrets.token_hex(3)}"
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._segments: dict[tuple[str, str, str], _Segment] = {}
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._failure: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LandingWriter:
        if self._thread is None:
            self.landing_dir.mkdir(parents=True, exist_ok=True)
            recover_inflight(self.landing_dir)
            self._thread = threading.Thread(target=self._run, name="landing-writer", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Finish queued writes, seal every open segment, stop the thread."""
        if self._thread is not None and not self._closed.is_set():
            self._queue.put(None)
            self._thread.join()

    @property
    def healthy(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._failure is None

    def pending(self) -> int:
        return self._queue.qsize()

    def __enter__(self) -> LandingWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- submitting ------------------------------------------------------------------------
    @staticmethod
    def _job(records: Iterable[LandingRecord], done: Callable[[BaseException | None], None]) -> _Job:
        chunks: dict[tuple[str, str, str], list[bytes]] = {}
        n = 0
        for rec in records:
            chunks.setdefault((rec.source, rec.day.isoformat(), rec.prefix), []).append(rec.line())
            n += rec.source != REPLAY_SOURCE  # stats count landed rows, not journal lines
        return _Job(chunks, done, n)

    def _submit(self, job: _Job) -> None:
        if self._thread is None or self._closed.is_set():
            raise RuntimeError("landing writer is not running")
        if self._failure is not None:
            raise RuntimeError(f"landing writer failed: {self._failure}")
        self._queue.put(job)

    async def append_async(self, records: Sequence[LandingRecord]) -> None:
        """Append and wait (without blocking the event loop) until durable on disk."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def done(err: BaseException | None) -> None:
            def settle() -> None:
                if fut.done():
                    return
                if err is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(err)

            loop.call_soon_threadsafe(settle)

        self._submit(self._job(records, done))
        await fut

    def append(self, records: Sequence[LandingRecord], timeout: float | None = 60.0) -> None:
        """Blocking append for synchronous callers."""
        event = threading.Event()
        box: list[BaseException | None] = [None]

        def done(err: BaseException | None) -> None:
            box[0] = err
            event.set()

        self._submit(self._job(records, done))
        if not event.wait(timeout):
            raise TimeoutError("landing write did not complete in time")
        if box[0] is not None:
            raise box[0]

    # -- the writer thread -----------------------------------------------------------------
    def _open_segment(self, key: tuple[str, str, str]) -> _Segment:
        source, day, prefix = key
        directory = self.landing_dir / source / day
        _makedirs_durable(directory)
        self._seq += 1
        path = directory / f".{prefix}-{self.writer_id}-{self._seq:04d}{INFLIGHT_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        if self.fsync:
            _fsync_dir(directory)
        seg = _Segment(path, fd, time.monotonic())
        self._segments[key] = seg
        return seg

    def _seal(self, key: tuple[str, str, str]) -> None:
        seg = self._segments.pop(key)
        os.close(seg.fd)
        if seg.size == 0:
            seg.path.unlink(missing_ok=True)
            return
        target = _sealed_name(seg.path)
        os.replace(seg.path, target)
        if self.fsync:
            _fsync_dir(target.parent)
        self.stats.files_sealed += 1

    def _write_all(self, seg: _Segment, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(seg.fd, view)
            view = view[n:]

    def _commit(self, jobs: list[_Job]) -> None:
        merged: dict[tuple[str, str, str], list[bytes]] = {}
        for job in jobs:
            for key, lines in job.chunks.items():
                merged.setdefault(key, []).extend(lines)
        touched: list[_Segment] = []
        try:
            for key, lines in merged.items():
                seg = self._segments.get(key) or self._open_segment(key)
                data = b"".join(lines)
                try:
                    self._write_all(seg, data)
                except BaseException:
                    os.ftruncate(seg.fd, seg.size)  # never leave a partial line behind
                    raise
                seg.size += len(data)
                touched.append(seg)
            if self.fsync:
                for seg in touched:
                    os.fsync(seg.fd)
        except BaseException as exc:  # noqa: BLE001 - every waiter must hear about it
            self.stats.errors += 1
            for job in jobs:
                job.done(exc)
            return
        self.stats.commits += 1
        self.stats.requests += len(jobs)
        self.stats.rows += sum(j.rows for j in jobs)
        for job in jobs:
            job.done(None)
        for key, seg in list(self._segments.items()):
            if seg.size >= self.max_segment_bytes:
                self._seal(key)

    def _seal_aged(self) -> None:
        now = time.monotonic()
        for key, seg in list(self._segments.items()):
            if now - seg.opened >= self.seal_seconds:
                self._seal(key)

    def _run(self) -> None:
        stopping = False
        try:
            while not stopping:
                try:
                    first = self._queue.get(timeout=min(1.0, max(self.seal_seconds / 4, 0.05)))
                except queue.Empty:
                    self._seal_aged()
                    continue
                jobs: list[_Job] = []
                item: _Job | None = first
                while True:
                    if item is None:
                        stopping = True
                    else:
                        jobs.append(item)
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if jobs:
                    self._commit(jobs)
                self._seal_aged()
        except BaseException as exc:  # noqa: BLE001
            self._failure = exc
            raise
        finally:
            self._closed.set()
            for key in list(self._segments):
                try:
                    self._seal(key)
                except OSError as exc:
                    self._failure = self._failure or exc
            # anyone who queued after we stopped is told, not left waiting
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job.done(RuntimeError("landing writer stopped"))


def landing_files(landing_dir: Path, source: str, include_inflight: bool = False) -> list[Path]:
    """The JSONL files of one source (sealed; optionally the in-flight segments too)."""
    base = Path(landing_dir) / source
    files = sorted(base.glob("*/*.jsonl"))
    if include_inflight:
        files += sorted(base.glob(f"*/.*{INFLIGHT_SUFFIX}"))
    return files
