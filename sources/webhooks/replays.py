"""Replay protection: what identifies a request, and a memory of accepted ones that survives restarts.

Keys name what a provider signed, not how the bytes arrived:

- SendGrid signs ``timestamp + body``. The signature bytes are no key: an ECDSA signature is
  malleable (``(r, n - s)`` verifies as well as ``(r, s)``), so anyone holding one valid request
  can make a second valid one. The key is the timestamp header and the body.
- Twilio signs the URL and the *decoded*, sorted form parameters (identical pairs once), so the
  same request re-ordered, percent-encoded differently, with a pair repeated, or sent to the URL
  with its port added verifies too. The key is the URL without its port (as the SDK's
  ``remove_port`` makes it) and the sorted set of decoded pairs.

Memory: every accepted key is appended to ``<landing>/.webhooks/replays/<UTC date>/`` by the
landing writer *in the same group commit as the request's rows* (no extra fsync round; a dot
folder, so no ingestion ever reads it), and a starting receiver loads the keys younger than the
window. A request is therefore refused after a restart exactly as before it. Twilio signs no
timestamp, so a Twilio request replayed after the window is accepted here; the warehouse
de-duplicates what it lands on the provider's ids (``event_id``; consents on
``provider_event_id``), so such a replay changes nothing downstream.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from twilio.request_validator import remove_port

from sources.webhooks.events import LandingRecord
from sources.webhooks.landing import INFLIGHT_SUFFIX, REPLAY_SOURCE


def sendgrid_replay_key(timestamp: str, body: bytes) -> bytes:
    """What SendGrid signed: the timestamp header's bytes and the body's."""
    return b"sg:" + hashlib.sha256(timestamp.encode("utf-8") + b"\0" + body).digest()


def twilio_replay_key(url: str, params: Iterable[tuple[str, str]]) -> bytes:
    """What Twilio signed: the URL (port removed) and the decoded form pairs, sorted, each once."""
    canonical = [remove_port(urlparse(url)), sorted(set(params))]
    return b"tw:" + hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode("utf-8")).digest()


def replay_record(key: bytes, at: float) -> LandingRecord:
    """The journal line remembering ``key`` as accepted at ``at`` (epoch seconds)."""
    day = datetime.fromtimestamp(at, UTC).date()
    return LandingRecord(REPLAY_SOURCE, day, "replays", {"key": key.hex(), "at": at})


def _journal_dirs(landing_dir: Path) -> list[tuple[date, Path]]:
    base = Path(landing_dir) / REPLAY_SOURCE
    if not base.is_dir():
        return []
    out = []
    for d in base.iterdir():
        try:
            out.append((date.fromisoformat(d.name), d))
        except ValueError:
            continue
    return sorted(out)


def load_replay_keys(landing_dir: Path, since: float) -> list[tuple[bytes, float]]:
    """Keys accepted at or after ``since``, oldest first, from sealed and in-flight journal files
    (a trailing partial line was never acknowledged and is ignored)."""
    first_day = datetime.fromtimestamp(since, UTC).date()
    keys: list[tuple[bytes, float]] = []
    for day, folder in _journal_dirs(landing_dir):
        if day < first_day:
            continue
        files = sorted(folder.glob("*.jsonl")) + sorted(folder.glob(f".*{INFLIGHT_SUFFIX}"))
        for path in files:
            for line in path.read_bytes().split(b"\n")[:-1]:
                try:
                    entry = json.loads(line)
                    key, at = bytes.fromhex(entry["key"]), float(entry["at"])
                except (ValueError, KeyError, TypeError):
                    continue
                if at >= since:
                    keys.append((key, at))
    keys.sort(key=lambda pair: pair[1])
    return keys


def prune_replay_journal(landing_dir: Path, before: float) -> list[Path]:
    """Delete journal days that hold only keys older than ``before`` (whole UTC days, one day of
    slack; a folder with an in-flight segment is kept). Returns the removed folders."""
    last_needed = datetime.fromtimestamp(before, UTC).date() - timedelta(days=1)
    removed = []
    for day, folder in _journal_dirs(landing_dir):
        if day < last_needed and not any(folder.glob(f".*{INFLIGHT_SUFFIX}")):
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


class ReplayCache:
    """Keys already accepted, remembered for ``window`` seconds of the wall clock (the same
    clock across restarts, so keys loaded from the journal expire correctly)."""

    def __init__(self, window: float, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self._clock = clock
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, entries: Iterable[tuple[bytes, float]]) -> int:
        """Remember keys accepted earlier (oldest first); returns how many are still in the window."""
        with self._lock:
            for key, at in entries:
                self._seen[key] = at
                self._seen.move_to_end(key)
            self._expire(self._clock())
            return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at < self.window:
                break
            self._seen.popitem(last=False)

    def seen(self, key: bytes) -> bool:
        with self._lock:
            self._expire(self._clock())
            return key in self._seen

    def claim(self, key: bytes) -> float | None:
        """Mark as in use and return the claim time; None if it already was (a concurrent or
        earlier replay)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            if key in self._seen:
                return None
            self._seen[key] = now
            return now

    def release(self, key: bytes) -> None:
        """Forget a claim whose request was not stored, so the provider's retry is accepted."""
        with self._lock:
            self._seen.pop(key, None)
