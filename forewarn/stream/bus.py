"""The process's anomaly bus: committed anomalies to local WebSocket clients and to sinks.

Publishing never waits: each client has a bounded queue on its event loop, and each sink
(Redis, MQTT) a bounded queue drained by its own thread. Whoever falls behind loses
messages, counted, rather than slowing scoring down.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter

from forewarn.stream.events import AnomalyEvent, StreamFilter, missed_notice

_LOGGER = logging.getLogger(__name__)


class Sink(Protocol):
    """Somewhere else committed anomalies go (a Redis channel, an MQTT broker)."""

    name: str
    ready: threading.Event  # set while connected
    dropped: int  # anomalies it could not send

    def offer(self, events: Sequence[AnomalyEvent]) -> None:
        """Queue events for sending; never blocks."""
        ...

    def start(self) -> None:
        """Connect and start sending."""
        ...

    def stop(self) -> None:
        """Send what is queued (briefly), then disconnect."""
        ...


def dropped_counter(registry: CollectorRegistry) -> Counter:
    """The Prometheus counter of anomalies a client or sink did not get, by sink."""
    return Counter(
        "forewarn_stream_dropped",
        "Anomalies not delivered because a WebSocket client or sink fell behind, by sink.",
        ["sink"],
        registry=registry,
    )


class Subscription:
    """One client's filter and bounded queue of JSON texts; lives on the client's loop."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, flt: StreamFilter, size: int, dropped: Counter
    ) -> None:
        self.loop = loop
        self.filter = flt
        self.queue: asyncio.Queue[str] = asyncio.Queue(size)
        self.missed = 0
        self._dropped = dropped

    def offer(self, events: Sequence[AnomalyEvent]) -> None:
        """Queue the matching events (on the loop's thread); count what does not fit."""
        for item in events:
            if self.filter.matches(item):
                self._put(item.text)

    def _put(self, text: str) -> None:
        # After a gap the notice goes first, so it needs a slot of its own.
        free = self.queue.maxsize - self.queue.qsize()
        if free < (2 if self.missed else 1):
            self.missed += 1
            self._dropped.labels("ws").inc()
            return
        if self.missed:
            self.queue.put_nowait(missed_notice(self.missed))
            self.missed = 0
        self.queue.put_nowait(text)

    async def get(self) -> str:
        """The next message for the client."""
        return await self.queue.get()


class AnomalyBus:
    """Fans committed anomalies out to this process's subscribers and to every sink."""

    def __init__(self, *, queue_size: int, dropped: Counter) -> None:
        self._queue_size = queue_size
        self.dropped = dropped
        self.sinks: list[Sink] = []
        # Copy-on-write, so that publishing reads it without the lock. Clients are grouped
        # by event loop: one wake-up per loop and anomaly batch, however many clients it serves.
        self._loops: dict[asyncio.AbstractEventLoop, frozenset[Subscription]] = {}
        self._lock = threading.Lock()
        self._started = self._stopped = False

    def add_sink(self, sink: Sink) -> None:
        """Send every published anomaly to `sink` too."""
        self.sinks.append(sink)

    def subscribe(self, flt: StreamFilter) -> Subscription:
        """A new client queue on the running event loop."""
        loop = asyncio.get_running_loop()
        sub = Subscription(loop, flt, self._queue_size, self.dropped)
        with self._lock:
            self._loops = {**self._loops, loop: self._loops.get(loop, frozenset()) | {sub}}
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to a client."""
        with self._lock:
            rest = self._loops.get(sub.loop, frozenset()) - {sub}
            loops = {loop: subs for loop, subs in self._loops.items() if loop is not sub.loop}
            self._loops = {**loops, sub.loop: rest} if rest else loops

    @property
    def subscribers(self) -> int:
        """How many clients are listening in this process."""
        return sum(len(subs) for subs in self._loops.values())

    def publish_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Publish committed `anomaly_detections` rows (the scorer's after-commit hook)."""
        if rows and (self._loops or self.sinks):
            self.publish([AnomalyEvent.from_row(row) for row in rows])

    def publish(self, events: Sequence[AnomalyEvent]) -> None:
        """Deliver to local clients and offer to every sink; never blocks, never raises."""
        self.deliver_local(events)
        if self.sinks and not self._started and not self._stopped:
            self._start_sinks()  # a CLI process (import, ingest) never calls start()
        for sink in self.sinks:
            try:
                sink.offer(events)
            except Exception:
                _LOGGER.exception("anomaly sink %s refused events", sink.name)

    def deliver_local(self, events: Sequence[AnomalyEvent]) -> None:
        """Hand events to every subscriber's loop (also used by the Redis listener)."""
        for loop, subs in self._loops.items():
            try:
                loop.call_soon_threadsafe(_offer_all, subs, events)
            except RuntimeError:  # the event loop is closed: its clients are gone
                for sub in subs:
                    self.unsubscribe(sub)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every sink is connected; False if one is not within `timeout`."""
        return all(sink.ready.wait(timeout) for sink in self.sinks)

    def start(self) -> None:
        """Start every sink (publishing starts them too, unless stop() was called)."""
        self._stopped = False
        self._start_sinks()

    def _start_sinks(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        for sink in self.sinks:
            sink.start()

    def stop(self) -> None:
        """Stop every sink (each sends what it has queued first, briefly)."""
        with self._lock:
            self._started, self._stopped = False, True
        for sink in self.sinks:
            try:
                sink.stop()
            except Exception:
                _LOGGER.exception("anomaly sink %s did not stop cleanly", sink.name)


def _offer_all(subs: frozenset[Subscription], events: Sequence[AnomalyEvent]) -> None:
    """On a loop's thread: offer a batch to each of its clients."""
    for sub in subs:
        sub.offer(events)
