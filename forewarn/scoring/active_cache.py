"""A Redis layer under the registry's in-process cache of active models, shared by processes.

Invalidation bumps a per-device generation number (one INCR) instead of deleting keys: a
process that read the database just before a retrain committed writes its stale answer under
the old generation, where nobody looks any more. Entries also expire after `ttl_s`, which
bounds staleness if an invalidation could not reach Redis. When Redis is away, lookups go
to the database (the outage is logged once, and Redis is tried again after a pause).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from forewarn.scoring.registry import ActiveModel

_LOGGER = logging.getLogger(__name__)
_PREFIX = "fw:am1:"  # bump the digit when ActiveModel's fields change
# One round trip: the device's generation, and the entry stored under it (if any).
_LOOKUP = """
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', ARGV[1] .. generation .. ARGV[2])}
"""
T = TypeVar("T")


def encode_model(model: ActiveModel) -> dict[str, Any]:
    """JSON-ready fields of an active model."""
    return {**dataclasses.asdict(model), "id": str(model.id), "device_id": str(model.device_id)}


def decode_model(data: dict[str, Any]) -> ActiveModel:
    """An active model from its JSON fields; TypeError/ValueError/KeyError when malformed."""
    fields = {**data, "id": uuid.UUID(data["id"]), "device_id": uuid.UUID(data["device_id"])}
    return ActiveModel(**{**fields, "metrics": tuple(data["metrics"])})


class RedisModelCache:
    """Active models per series and per device, in Redis, read through to the database."""

    def __init__(
        self,
        url: str,
        *,
        ttl_s: float,
        retry_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._lookup = self._redis.register_script(_LOOKUP)
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._down_until: float | None = None

    def series(
        self, device_id: uuid.UUID, metric_name: str, load: Callable[[], ActiveModel]
    ) -> ActiveModel:
        """The active model of a series: from Redis, else `load()` (then stored)."""
        return self._read_through(device_id, f":s:{metric_name}", load, encode_model, decode_model)

    def device(
        self, device_id: uuid.UUID, load: Callable[[], list[ActiveModel]]
    ) -> list[ActiveModel]:
        """Every active model of a device: from Redis, else `load()` (then stored)."""
        return self._read_through(
            device_id,
            ":d",
            load,
            lambda models: [encode_model(m) for m in models],
            lambda data: [decode_model(item) for item in data],
        )

    def invalidate(self, device_id: uuid.UUID) -> None:
        """Make every cached entry of a device unreachable (after train, retire, delete)."""
        if self._available():
            try:
                self._redis.incr(f"{_PREFIX}{device_id}:gen")
            except (redis.RedisError, OSError) as err:
                self._went_down(err)

    def close(self) -> None:
        """Release the connections."""
        self._redis.close()

    def _read_through(
        self,
        device_id: uuid.UUID,
        suffix: str,
        load: Callable[[], T],
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> T:
        if not self._available():
            return load()
        prefix = f"{_PREFIX}{device_id}:"
        try:
            found = self._lookup(keys=[f"{prefix}gen"], args=[prefix, suffix])
        except (redis.RedisError, OSError) as err:
            self._went_down(err)
            return load()
        generation = found[0].decode()
        if len(found) > 1 and found[1] is not None:
            try:
                return decode(json.loads(found[1]))
            except (TypeError, ValueError, KeyError):
                _LOGGER.warning("unreadable cached model entry %s%s; reloading", prefix, suffix)
        value = load()
        self._store(f"{prefix}{generation}{suffix}", json.dumps(encode(value)))
        return value

    def _store(self, key: str, text: str) -> None:
        try:
            self._redis.set(key, text, px=self._ttl_ms)
        except (redis.RedisError, OSError) as err:
            self._went_down(err)

    def _available(self) -> bool:
        if self._down_until is None:
            return True
        if self._clock() < self._down_until:
            return False
        self._down_until = None
        return True

    def _went_down(self, err: Exception) -> None:
        _LOGGER.warning(
            "Redis model cache unavailable (%s); using the database for %ss",
            err,
            self._retry_after_s,
        )
        self._down_until = self._clock() + self._retry_after_s
