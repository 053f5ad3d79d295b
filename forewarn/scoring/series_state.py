"""Per-model scoring state: held in memory, rebuilt from stored telemetry when needed.

A state is trusted only while it sits exactly on the newest stored reading before the one
being scored. Otherwise (first use, a restart, another process scored meanwhile, a back-filled
reading) it is rebuilt the way the backtest builds it: primed with the model's training
window, then fed every stored reading since. So a restart does not change the scores.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from forewarn.detection.base import Detector, F64Array, I64Array
from forewarn.detection.tracked import TrackedState, tracked
from forewarn.scoring.registry import ActiveModel
from forewarn.telemetry.query import latest_before_each, read_aligned

REPLAY_LIMIT_ROWS = 100_000  # beyond this, prime on the recent past instead of replaying


@dataclass(frozen=True, slots=True)
class Previous:
    """The time of the stored reading just before the first one being scored (None: none)."""

    ts: int | None


@dataclass
class _Entry:
    state: TrackedState
    last_ts: int | None


class SeriesStates:
    """An LRU of per-model states, each positioned after the newest reading it has seen."""

    def __init__(self, capacity: int) -> None:
        self._entries: OrderedDict[uuid.UUID, _Entry] = OrderedDict()
        self._max = capacity
        self._lock = threading.Lock()
        self._model_locks: dict[uuid.UUID, threading.RLock] = {}

    def lock(self, model_id: uuid.UUID) -> threading.RLock:
        """The lock that serialises scoring with one model's state (re-entrant: a caller
        may take it before writing the readings it then scores)."""
        with self._lock:
            return self._model_locks.setdefault(model_id, threading.RLock())

    @contextmanager
    def holding(self, model_ids: Iterable[uuid.UUID]) -> Iterator[None]:
        """Hold the locks of several models, always taken in the same (sorted) order so
        that two holders of overlapping sets cannot each wait for the other."""
        with ExitStack() as held:
            for model_id in sorted(set(model_ids)):
                held.enter_context(self.lock(model_id))
            yield

    def state_for(
        self,
        session: Session,
        model: ActiveModel,
        detector: Detector,
        ts_ms: int,
        known: Previous | None = None,
    ) -> TrackedState:
        """The model's state, positioned right before a reading at `ts_ms`.

        `known` is the stored reading before `ts_ms` when the caller already read it.
        """
        previous = known.ts if known is not None else _previous_ts(session, model, ts_ms)
        with self._lock:
            entry = self._entries.get(model.id)
            if entry is not None and entry.last_ts == previous:
                self._entries.move_to_end(model.id)
                return entry.state
        return _rebuild(session, model, detector, ts_ms)

    def advanced(self, model_id: uuid.UUID, state: TrackedState, last_ts: int) -> None:
        """Remember a state that has now seen readings up to `last_ts`."""
        with self._lock:
            self._entries[model_id] = _Entry(state, last_ts)
            self._entries.move_to_end(model_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def forget(self, model_id: uuid.UUID) -> None:
        """Drop a model's state (retired or replaced)."""
        with self._lock:
            self._entries.pop(model_id, None)


def _previous_ts(session: Session, model: ActiveModel, ts_ms: int) -> int | None:
    # Device-level models read aligned rows; the least recent metric bounds them.
    wanted = [(model.device_id, metric, ts_ms) for metric in model.metrics]
    return combine_previous(latest_before_each(session, wanted))


def combine_previous(found: list[int | None]) -> int | None:
    """A device-level state's position: its least recent metric (None if one has none)."""
    return None if any(f is None for f in found) else min(f for f in found if f is not None)


def _rebuild(session: Session, model: ActiveModel, detector: Detector, ts_ms: int) -> TrackedState:
    """Prime on the training window, then replay what came after, strictly before `ts_ms`."""
    window = model.training_end_ms - model.training_start_ms
    primed_until = min(model.training_end_ms, ts_ms - 1)
    replay_ts, replay_values = _read(session, model, primed_until + 1, ts_ms - 1)
    if len(replay_ts) > REPLAY_LIMIT_ROWS:
        primed_until, replay_ts, replay_values = ts_ms - 1, replay_ts[:0], replay_values[:0]
    hist_ts, hist_values = _read(session, model, primed_until - window, primed_until)
    state = tracked(detector, hist_ts, hist_values, model.threshold)
    # Readings already scored before, fed in one vectorised pass: exactly the state of
    # one-by-one updates (see tests/detection/test_batch_states.py).
    state.update_batch(replay_ts.tolist(), replay_values.tolist(), model.threshold)
    return state


def _read(
    session: Session, model: ActiveModel, start_ms: int, end_ms: int
) -> tuple[I64Array, F64Array]:
    ts, values = read_aligned(session, model.device_id, model.metrics, start_ms, end_ms)
    if len(model.metrics) == 1:
        return ts, np.asarray(values, dtype=np.float64).reshape(-1)
    return ts, values
