"""Rate limiting and the retry policy (tenacity) shared by every channel client (thread-safe)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from crmloop.settings import RetryConfig


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


class Retry(Exception):
    """Raised inside a retried call: the provider certainly did not accept this attempt (429,
    5xx, connection refused); `retry_after` is the wait it asked for, if any."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _ProviderWait(wait_base):
    """Exponential backoff with full jitter (tenacity's), but never shorter than the provider's
    Retry-After (plus a little jitter, so threads told the same time do not return together)."""

    def __init__(self, config: RetryConfig):
        self.jitter = wait_random_exponential(multiplier=config.base_seconds, max=config.max_seconds)
        self.extra = min(0.25, config.base_seconds)

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return max(after, 0.0) + random.uniform(0, self.extra)
        return self.jitter(retry_state)


def retrying(config: RetryConfig, sleep: Callable[[float], None] = time.sleep) -> Retrying:
    """The retry policy of every provider call: up to `max_attempts` attempts while the call
    raises `Retry`; the last `Retry` is re-raised when they run out. Anything else (an accepted
    request, a permanent error, an ambiguous one) ends the retries at once: whether an
    ambiguous request may be repeated is the caller's decision, never the retry loop's."""
    return Retrying(
        stop=stop_after_attempt(max(1, config.max_attempts)),
        wait=_ProviderWait(config),
        retry=retry_if_exception_type(Retry),
        sleep=sleep,
        reraise=True,
    )


def attempts_of(r: Retrying) -> int:
    """How many attempts the last call through `r` made (tenacity's statistics)."""
    return int(r.statistics.get("attempt_number", 1))


class RequestOutcome:
    """How a single HTTP attempt ended, in the terms the retry loop needs."""

    OK = "ok"
    RETRY = "retry"  # 429 / 5xx / connection refused: the provider did not accept it
    AMBIGUOUS = "ambiguous"  # dropped after the body was sent / read timeout: may have been accepted
    PERMANENT = "permanent"  # 4xx: will never succeed as is
