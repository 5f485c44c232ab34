"""Rate limiting and retry policy shared by every channel client (pure, thread-safe)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from activations.delivery.config import RetryConfig


class TokenBucket:
    """Requests-per-second limiter (GCRA form of a token bucket), shared by threads.

    `burst` tokens may be taken at once after an idle period; over any long window the rate
    never exceeds `rate`. `pause_until` holds every caller (a provider's Retry-After)."""

    def __init__(self, rate: float, burst: float | None = None, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0:
            raise ValueError(f"rate must be > 0, not {rate}")
        self.rate = float(rate)
        self.interval = 1.0 / self.rate
        self.burst = max(1.0, float(burst if burst is not None else 1.0))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat = clock()  # theoretical arrival time of the next request
        self._paused_until = 0.0

    def acquire(self) -> float:
        """Block until a request may go; returns seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(self._tat, now - (self.burst - 1) * self.interval, self._paused_until)
            self._tat = start + self.interval
            wait = start - now
        if wait > 0:
            self._sleep(wait)
            return wait
        return 0.0

    def pause_until(self, monotonic_deadline: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, monotonic_deadline)
            self._tat = max(self._tat, monotonic_deadline)


def parse_retry_after(headers) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date) or X-RateLimit-Reset (epoch)."""
    if not headers:
        return None
    get = headers.get
    raw = get("Retry-After") or get("retry-after")
    if raw:
        raw = str(raw).strip()
        try:
            return max(0.0, float(raw))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    reset = get("X-RateLimit-Reset") or get("x-ratelimit-reset")
    remaining = get("X-RateLimit-Remaining") or get("x-ratelimit-remaining")
    if reset and (remaining is None or str(remaining).strip() == "0"):
        try:
            value = float(reset)
        except ValueError:
            return None
        # SendGrid sends an epoch timestamp; small values are seconds-from-now.
        return max(0.0, value - time.time()) if value > 1e9 else max(0.0, value)
    return None


@dataclass
class Backoff:
    """Exponential backoff with full jitter, honouring a provider's requested wait."""

    config: RetryConfig
    rng: random.Random | None = None

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before retry number `attempt` (1-based)."""
        rng = self.rng or random
        cap = min(self.config.max_seconds, self.config.base_seconds * (2 ** (attempt - 1)))
        jittered = rng.uniform(cap / 2, cap)
        if retry_after is not None:
            return max(retry_after, 0.0) + rng.uniform(0, min(0.25, self.config.base_seconds))
        return jittered


class RequestOutcome:
    """How a single HTTP attempt ended, in the terms the retry loop needs."""

    OK = "ok"
    RETRY = "retry"  # 429 / 5xx / connection refused: the provider did not accept it
    AMBIGUOUS = "ambiguous"  # dropped after the body was sent / read timeout: may have been accepted
    PERMANENT = "permanent"  # 4xx: will never succeed as is
