"""Rate limits of tracing queries: a token bucket per agency and role, counted in query records.

The bucket belongs to the agency and the role of the calling key (:func:`bucket_of`), not to
the key: a key rotated, or a second tracer key issued to the same agency, draws on the same
budget, so no agency can buy a fresh bucket by asking for a new key. All the tracer keys of
one agency therefore share one budget.

Each bucket holds at most ``burst`` tokens and refills at ``rate_per_minute / 60``
tokens a second; a query of ``n`` records takes ``n`` tokens or is refused whole, with the
seconds until it would fit (the ``Retry-After`` of a 429). A request of more records than the
bucket can ever hold is not a matter of waiting; callers refuse it outright
(:meth:`RateLimiter.fits`). Tracing access must not become a way to enumerate a register:
the limit bounds how many people one agency can look up, whatever the request pattern and
however many keys it holds.

Buckets live in the process (one service process holds them); a restart refills them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Decision", "RateLimiter", "bucket_of"]


def bucket_of(agency_id: int, role: str) -> str:
    """The bucket a key of ``role`` at agency ``agency_id`` draws on: one per agency and role."""
    return f"{agency_id}/{role}"


@dataclass(frozen=True)
class Decision:
    """Whether ``cost`` tokens were taken; if not, how long until they would be there."""

    allowed: bool
    remaining: float
    retry_after: float  # seconds; 0 when allowed

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class RateLimiter:
    """Token buckets keyed by :func:`bucket_of` (any string); thread-safe."""

    def __init__(
        self,
        rate_per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("rate_per_minute must be > 0 and burst >= 1")
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated)
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def fits(self, cost: int) -> bool:
        """Whether ``cost`` records could ever pass (at most ``burst``)."""
        return cost <= self.burst

    def _level(self, key: str, now: float) -> float:
        tokens, updated = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - updated) * self.rate)

    def take(self, key: str, cost: float = 1.0) -> Decision:
        """Take ``cost`` tokens from ``key``'s bucket, all or none."""
        now = self._clock()
        with self._lock:
            tokens = self._level(key, now)
            if tokens + 1e-9 >= cost:
                tokens = max(0.0, tokens - cost)
                self._store(key, tokens, now)
                return Decision(True, tokens, 0.0)
            self._store(key, tokens, now)
            return Decision(False, tokens, (cost - tokens) / self.rate)

    def peek(self, key: str, cost: float = 1.0) -> Decision:
        """What :meth:`take` would answer, taking nothing."""
        now = self._clock()
        with self._lock:
            tokens = self._level(key, now)
        if tokens + 1e-9 >= cost:
            return Decision(True, tokens, 0.0)
        return Decision(False, tokens, (cost - tokens) / self.rate)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:  # drop full buckets: they hold no state
            full = [k for k in self._buckets if self._level(k, now) >= self.burst]
            for k in full:
                del self._buckets[k]
