"""Share anomalies between API processes through a Redis pub/sub channel.

Each process delivers its own anomalies to its own clients directly (so they still flow
when Redis is away) and publishes them, tagged with its origin id, on the channel. One
listener thread per process delivers the other processes' anomalies to its clients and
skips its own, so every client sees each anomaly once. Pub/sub keeps nothing: what is
published while a process is disconnected never reaches it (at most once).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import redis
from prometheus_client import Counter

from forewarn.stream.events import AnomalyEvent
from forewarn.stream.sink import QueuedSink

_LOGGER = logging.getLogger(__name__)
_POLL_S = 1.0  # how often the listener looks at its stop flag when the channel is quiet
_RETRY_MIN_S = 0.2
_RETRY_MAX_S = 5.0

Deliver = Callable[[Sequence[AnomalyEvent]], None]


def encode(origin: str, events: Sequence[AnomalyEvent]) -> str:
    """The channel message for a batch published by `origin`."""
    body = ",".join(event.text for event in events)
    return f'{{"origin":{json.dumps(origin)},"events":[{body}]}}'


def decode(raw: bytes | str) -> tuple[str, list[AnomalyEvent]]:
    """Origin and events of a channel message; ValueError when it is not one of ours."""
    try:
        message: Any = json.loads(raw)
        return str(message["origin"]), [AnomalyEvent.from_dict(e) for e in message["events"]]
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"malformed anomaly message: {err}") from err


class RedisFanout(QueuedSink):
    """Publishes this process's anomalies and delivers the other processes' ones locally."""

    name = "redis"

    def __init__(
        self, url: str, channel: str, deliver: Deliver, *, queue_size: int, dropped: Counter
    ) -> None:
        super().__init__(queue_size=queue_size, dropped=dropped)
        self.origin = uuid.uuid4().hex
        self._channel = channel
        self._wake = f"{channel}:wake:{self.origin}"  # lets close() stop the listener at once
        self._deliver = deliver
        self._redis = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=10
        )
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    def open(self) -> None:
        """Start the listener thread."""
        self._stop.clear()
        self._listener = threading.Thread(target=self._listen, name="stream-redis-in", daemon=True)
        self._listener.start()

    def send(self, batch: list[AnomalyEvent]) -> None:
        """PUBLISH one batch."""
        self._redis.publish(self._channel, encode(self.origin, batch))
        self.sent_ok()

    def close(self) -> None:
        """Stop the listener and release connections."""
        self._stop.set()
        if self._listener is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                self._redis.publish(self._wake, "")
            self._listener.join(timeout=_POLL_S * 3)
            self._listener = None
        self._redis.close()

    def _listen(self) -> None:
        delay = _RETRY_MIN_S
        while not self._stop.is_set():
            try:
                self._subscribed_loop()
                return
            except (redis.RedisError, OSError) as err:
                if self.ready.is_set() or delay == _RETRY_MIN_S:  # once per outage
                    _LOGGER.warning("Redis anomaly channel unavailable (%s); retrying", err)
                    delay = _RETRY_MIN_S
                self.ready.clear()
            self._stop.wait(delay)
            delay = min(delay * 2, _RETRY_MAX_S)

    def _subscribed_loop(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self._channel, self._wake)
            self.ready.set()
            _LOGGER.info("listening for anomalies on Redis channel %s", self._channel)
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=_POLL_S)
                if message is not None and message["channel"] == self._channel.encode():
                    self._receive(message["data"])
        finally:
            pubsub.close()

    def _receive(self, raw: bytes | str) -> None:
        try:
            origin, events = decode(raw)
        except ValueError as err:
            _LOGGER.warning("ignoring a message on %s: %s", self._channel, err)
            return
        if origin != self.origin:  # our own were delivered locally already
            self._deliver(events)
