"""Fixed-window rate limits, in memory or shared through Redis."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

Clock = Callable[[], float]
_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """Outcome of one hit: allowed, or refused with a wait in seconds."""

    allowed: bool
    retry_after_s: int


class CounterStore(Protocol):
    """Counts hits per key inside a window that expires by itself."""

    def incr(self, key: str, window_s: int) -> int:
        """Add one hit to `key` and return the count in this window."""
        ...


class MemoryCounterStore:
    """Per-process counters; old windows are dropped as new ones start."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._window = ""

    def incr(self, key: str, window_s: int) -> int:
        """Add one hit to `key`."""
        with self._lock:
            window = key.rsplit(":", 1)[-1]
            if window != self._window and len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if k.endswith(window)}
            self._window = window
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
            return count


class RedisCounterStore:
    """Counters shared by every API process through Redis.

    When Redis cannot be reached the limiter keeps working on per-process counters
    (logged), so an outage of the cache does not take the API down with it.
    """

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._fallback = MemoryCounterStore()
        self._failing = False

    def incr(self, key: str, window_s: int) -> int:
        """Add one hit to `key` (INCR + EXPIRE in one round trip)."""
        try:
            pipe = self._redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, window_s + 1)
            count, _ = pipe.execute()
        except self._errors as err:
            if not self._failing:  # log the outage once, not on every request
                _LOGGER.warning("Redis rate-limit counters unavailable (%s); counting locally", err)
            self._failing = True
            return self._fallback.incr(key, window_s)
        self._failing = False
        return int(count)


class RateLimiter:
    """At most `limit` hits per key per `window_s` seconds."""

    def __init__(
        self,
        store: CounterStore,
        *,
        scope: str,
        limit: int,
        window_s: int = 60,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._scope = scope
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        # Memory counters answer at once; a shared store does network I/O.
        self.blocking = not isinstance(store, MemoryCounterStore)

    def hit(self, key: str) -> Verdict:
        """Count a hit for `key` and say whether it may proceed."""
        now = self._clock()
        window = math.floor(now / self._window_s)
        count = self._store.incr(f"fw:rl:{self._scope}:{key}:{window}", self._window_s)
        if count <= self._limit:
            return Verdict(True, 0)
        retry = math.ceil((window + 1) * self._window_s - now)
        return Verdict(False, max(retry, 1))
