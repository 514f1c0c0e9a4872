"""Per-client rate limits, kept in this process's memory.

Each gunicorn worker (and each replica) keeps its own counts: with W workers and R
replicas a client can reach W x R times a limit in the worst case. That is enough
for what they guard (feedback inflation, console token guessing against a 32+
character token); a limit that must hold across processes would need the shared
store. Memory is bounded: past ``max_keys`` clients the least recently seen is forgotten.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import Callable


class RateLimiter:
    """A token bucket per client key: ``limit`` requests per ``per_seconds``, in bursts of up to ``limit``."""

    def __init__(self, limit: int, per_seconds: float, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.rate = limit / per_seconds
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()   # key -> (tokens, when)
        self._lock = threading.Lock()

    def hit(self, key: str) -> int | None:
        """Count one request; None when allowed, else the whole seconds to wait (``Retry-After``)."""
        now = self.clock()
        with self._lock:
            tokens, when = self._buckets.pop(key, (float(self.limit), now))
            tokens = min(float(self.limit), tokens + (now - when) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return None if allowed else max(1, math.ceil((1.0 - tokens) / self.rate))


class GrowingDelay:
    """After each failure but the first (a typo is free) a key must wait longer before trying again:
    ``base`` x 2^(failures - 2) seconds, at most ``ceiling``; a success forgets the key."""

    def __init__(self, base: float = 1.0, ceiling: float = 900.0, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base, self.ceiling, self.max_keys, self.clock = base, ceiling, max_keys, clock
        self._state: OrderedDict[str, tuple[int, float]] = OrderedDict()   # key -> (failures, not before)
        self._lock = threading.Lock()

    def wait(self, key: str) -> int | None:
        """None when ``key`` may try now, else the whole seconds it must still wait."""
        with self._lock:
            failures, not_before = self._state.get(key, (0, 0.0))
        remaining = not_before - self.clock()
        return max(1, math.ceil(remaining)) if failures and remaining > 0 else None

    def failed(self, key: str) -> float:
        """Record a failure; returns the delay now imposed on ``key``."""
        with self._lock:
            failures, _ = self._state.pop(key, (0, 0.0))
            failures += 1
            delay = 0.0 if failures == 1 else min(self.ceiling, self.base * 2 ** min(failures - 2, 30))
            self._state[key] = (failures, self.clock() + delay)
            while len(self._state) > self.max_keys:
                self._state.popitem(last=False)
        return delay

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._state.pop(key, None)
