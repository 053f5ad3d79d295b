"""The batcher: size- and time-bounded batches, a bounded queue, write-then-done, retries."""

from __future__ import annotations

import threading

import pytest

from forewarn.errors import StorageUnavailableError
from forewarn.ingest.batcher import Batcher, BatchLimits
from tests.support import wait_until


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Store:
    """A stand-in database: records written batches; fails the first `failures` writes."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or StorageUnavailableError("connection refused")
        self.attempts = 0
        self.written: list[list[int]] = []
        self.done: list[tuple[list[int], int]] = []

    def write(self, batch: list[int]) -> int:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise self.error
        self.written.append(list(batch))
        return sum(batch)

    def finish(self, batch: list[int], result: int) -> None:
        self.done.append((list(batch), result))


def make(store: Store, clock: Clock, **limits: float) -> Batcher[int, int]:
    """A batcher whose items weigh their own value."""
    values = {"max_weight": 10, "max_latency_s": 0.5, "max_pending": 100, "retry_min_s": 0.001}
    values.update(limits)
    return Batcher(
        store.write,
        store.finish,
        weight=lambda item: item,
        limits=BatchLimits(**values),  # type: ignore[arg-type]
        clock=clock,
    )


def test_a_batch_closes_when_its_weight_is_reached() -> None:
    clock, store = Clock(), Store()
    batcher = make(store, clock)
    for item in (3, 3, 4, 5, 1):
        assert batcher.put(item)
    assert batcher.collect() == [3, 3, 4]  # weight 10 reached
    clock.now += 1.0  # the rest is past its deadline: no waiting
    assert batcher.collect() == [5, 1]


def test_a_batch_closes_when_its_first_item_is_due() -> None:
    clock, store = Clock(), Store()
    batcher = make(store, clock)
    batcher.put(1)
    clock.now += 0.3
    batcher.put(1)
    clock.now += 0.3  # the first item has waited 0.6 s > 0.5 s
    assert batcher.collect() == [1, 1]
    assert batcher.collect() == []  # nothing queued


def test_the_queue_is_bounded_and_put_waits_for_room() -> None:
    clock, store = Clock(), Store()
    batcher = make(store, clock, max_pending=3, max_weight=1)
    for item in (1, 1, 1):
        batcher.put(item)
    fourth = threading.Thread(target=batcher.put, args=(2,))
    fourth.start()
    fourth.join(0.3)
    assert fourth.is_alive()  # blocked: the queue holds 3
    assert batcher.collect() == [1]
    fourth.join(5)
    assert not fourth.is_alive()
    assert batcher.peak_pending == 3
    assert [batcher.collect() for _ in range(3)] == [[1], [1], [2]]


def test_stopping_releases_a_waiting_put_without_queueing_it() -> None:
    clock, store = Clock(), Store()
    batcher = make(store, clock, max_pending=1)
    batcher.put(1)
    results: list[bool] = []
    waiting = threading.Thread(target=lambda: results.append(batcher.put(2)))
    waiting.start()
    batcher.stop(timeout_s=5)
    waiting.join(5)
    assert results == [False]
    assert store.done == []  # never started: nothing written


def test_written_batches_are_done_in_order_after_retries() -> None:
    clock, store = Clock(), Store(failures=3)
    clock.now += 100  # every item is due at once
    batcher = make(store, clock, max_weight=4)
    for item in (1, 2, 3, 4):
        batcher.put(item)
    batcher.start()
    wait_until(lambda: len(store.done) == 2, 10, "two batches done")
    batcher.stop()
    assert store.attempts == 5  # three failures, then two batches
    assert store.done == [([1, 2, 3], 6), ([4], 4)]


@pytest.mark.slow
def test_any_write_error_is_retried_without_killing_the_writer() -> None:
    clock, store = Clock(), Store(failures=2, error=RuntimeError("bug"))
    batcher = make(store, clock)
    batcher.start()
    batcher.put(5)
    clock.now += 100
    wait_until(lambda: store.done == [([5], 5)], 10, "the batch done")
    batcher.put(6)
    wait_until(lambda: len(store.done) == 2, 10, "a later batch done")
    batcher.stop()


@pytest.mark.slow
def test_stop_writes_what_is_queued() -> None:
    clock, store = Clock(), Store()
    batcher = make(store, clock, max_weight=1000)
    for item in range(1, 8):
        batcher.put(item)
    batcher.start()
    batcher.stop()
    assert [item for batch, _ in store.done for item in batch] == list(range(1, 8))


@pytest.mark.slow
def test_stop_gives_up_on_a_batch_the_database_never_takes() -> None:
    clock, store = Clock(), Store(failures=10**9)
    batcher = make(store, clock)
    batcher.put(1)
    batcher.start()
    wait_until(lambda: store.attempts >= 2, 10, "retries")
    batcher.stop(timeout_s=0.2)
    assert store.done == []  # not acknowledged: the broker will send it again
