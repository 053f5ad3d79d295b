"""A sink that queues batches of anomalies (bounded) and sends them from its own thread."""

from __future__ import annotations

import logging
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

from prometheus_client import Counter

from forewarn.stream.events import AnomalyEvent

_LOGGER = logging.getLogger(__name__)
_STOP_WAIT_S = 5.0


class QueuedSink(ABC):
    """Scoring threads only enqueue; one worker thread does the network I/O.

    A full queue (the far end is away or slow) drops the batch and counts its anomalies.
    """

    name = "sink"

    def __init__(self, *, queue_size: int, dropped: Counter) -> None:
        self.ready = threading.Event()
        self.dropped = 0
        self._dropped_metric = dropped.labels(self.name)
        self._queue: queue.Queue[list[AnomalyEvent] | None] = queue.Queue(queue_size)
        self._worker: threading.Thread | None = None
        self._warned = False

    def offer(self, events: Sequence[AnomalyEvent]) -> None:
        """Queue a batch; drop it (counted) when the queue is full."""
        try:
            self._queue.put_nowait(list(events))
        except queue.Full:
            self.count_dropped(len(events), "queue full")

    def count_dropped(self, count: int, why: str) -> None:
        """Count anomalies that will not be sent; log the first of a run of losses."""
        self.dropped += count
        self._dropped_metric.inc(count)
        if not self._warned:
            _LOGGER.warning("%s: dropping anomalies (%s)", self.name, why)
            self._warned = True

    def sent_ok(self) -> None:
        """Note a successful send, so that the next loss is logged again."""
        self._warned = False

    def start(self) -> None:
        """Connect and start the worker thread (idempotent)."""
        if self._worker is None:
            self.open()
            self._worker = threading.Thread(
                target=self._run, name=f"stream-{self.name}", daemon=True
            )
            self._worker.start()

    def stop(self) -> None:
        """Send what is queued (waiting at most a few seconds), then disconnect."""
        if self._worker is not None:
            try:
                self._queue.put(None, timeout=_STOP_WAIT_S)
            except queue.Full:
                _LOGGER.warning("%s: queue still full at shutdown", self.name)
            self._worker.join(timeout=_STOP_WAIT_S)
            self._worker = None
        self.close()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            try:
                self.send(batch)
            except Exception as err:  # the far end is away: at most once, so this batch is lost
                self.count_dropped(len(batch), f"{type(err).__name__}: {err}")

    @abstractmethod
    def open(self) -> None:
        """Connect (called once, before the worker starts)."""

    @abstractmethod
    def send(self, batch: list[AnomalyEvent]) -> None:
        """Send one batch (on the worker thread); raise to count it as dropped."""

    @abstractmethod
    def close(self) -> None:
        """Disconnect (called once, after the worker stopped)."""
