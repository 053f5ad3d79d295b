"""A bounded hand-off from the MQTT thread to one writer thread, in size- and time-bounded
batches: each batch is written (one transaction), then handed back to be acknowledged.

Memory is bounded by `max_pending` queued items plus the batch in hand. When the queue is full,
`put` blocks the MQTT network thread, which stops reading the socket: the broker keeps the
rest (with MQTT v5 the broker already stops at the client's Receive Maximum, set to the same
bound, so `put` should not block at all).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from forewarn.errors import StorageUnavailableError

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class BatchLimits:
    """How big a batch may grow, how long its first item may wait, and the queue's bound."""

    max_weight: int
    max_latency_s: float
    max_pending: int
    retry_min_s: float = 0.1
    retry_max_s: float = 2.0


class Batcher(Generic[T, R]):
    """Collects items into batches, writes each until it succeeds, then reports it done."""

    def __init__(
        self,
        write: Callable[[list[T]], R],
        done: Callable[[list[T], R], None],
        weight: Callable[[T], int],
        limits: BatchLimits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write, self._done, self._weight = write, done, weight
        self._limits = limits
        self._clock = clock
        self._queue: queue.Queue[tuple[float, T]] = queue.Queue(limits.max_pending)
        self._stopping = threading.Event()
        self._abandon_at = float("inf")
        self._thread: threading.Thread | None = None
        self.peak_pending = 0

    def put(self, item: T) -> bool:
        """Queue an item, waiting while the queue is full; False once stopping (item dropped)."""
        entry = (self._clock(), item)
        while not self._stopping.is_set():
            try:
                self._queue.put(entry, timeout=0.2)
            except queue.Full:
                continue
            self.peak_pending = max(self.peak_pending, self._queue.qsize())
            return True
        return False

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="forewarn-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Refuse new items, write what is queued, and stop; gives up after `timeout_s`."""
        self._abandon_at = time.monotonic() + timeout_s
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s + 1.0)

    def _run(self) -> None:
        while not (self._stopping.is_set() and self._queue.empty()):
            batch = self.collect()
            if batch and not self._write_until_done(batch):
                return

    def collect(self) -> list[T]:
        """The next batch: what is queued now, then more until full or the first item is due."""
        try:
            first_at, first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch, weight = [first], self._weight(first)
        deadline = first_at + self._limits.max_latency_s
        while weight < self._limits.max_weight:
            try:
                _, item = self._queue.get_nowait()
            except queue.Empty:
                wait = deadline - self._clock()
                if wait <= 0 or self._stopping.is_set():
                    break
                try:
                    _, item = self._queue.get(timeout=wait)
                except queue.Empty:
                    break
            batch.append(item)
            weight += self._weight(item)
        return batch

    def _write_until_done(self, batch: list[T]) -> bool:
        """Write (retrying while storage fails) and report; False if abandoned on stop."""
        delay, failures = self._limits.retry_min_s, 0
        while True:
            try:
                result = self._write(batch)
            except Exception as err:  # the writer thread must outlive any failure
                failures += 1
                if failures == 1:
                    _log_failure(err, len(batch))
                if time.monotonic() + delay > self._abandon_at:
                    _LOGGER.error("stopping with %d messages unwritten (not acked)", len(batch))
                    return False
                time.sleep(delay)
                delay = min(delay * 2, self._limits.retry_max_s)
                continue
            if failures:
                _LOGGER.info("batch written after %d failed attempts", failures)
            try:
                self._done(batch, result)
            except Exception:
                _LOGGER.exception("acknowledging a written batch failed")
            return True


def _log_failure(err: Exception, size: int) -> None:
    if isinstance(err, StorageUnavailableError):
        _LOGGER.warning("database unavailable, holding %d messages: %s", size, err)
    else:
        _LOGGER.exception("writing a batch of %d messages failed; retrying", size)
