"""The feature table of `features`, computed one reading at a time in O(1) per reading.

Pure Python on purpose: one reading needs a few dozen float operations, fewer than the
overhead of as many numpy calls. The numbers equal `batch_features` up to floating-point
rounding (tested); benchmarks/bench_streaming.py measures the cost. `push_many` computes
the same numbers for many readings at once with `feature_batch`, bit for bit, and leaves
the same state.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np

from forewarn.detection.base import BoolArray, F64Array, I64Array
from forewarn.detection.feature_batch import (
    BatchWindow,
    cycle_column,
    gap_column,
    range_column,
    unchanged_column,
    zscore_column,
    zscore_sums,
)
from forewarn.detection.features import WINDOWED, FeatureLayout, as_columns
from forewarn.errors import InvalidInputError


class FeatureState:
    """One metric's features, one reading at a time, in O(1): ring buffer, running sums
    (offset by the first reading, to keep precision) and monotonic deques for ranges."""

    def __init__(self, layout: FeatureLayout, floor: float, partial: bool = False) -> None:
        """An empty state; push history into it before scoring. With `partial`, a windowed
        feature is NaN (left out) until the state has seen its horizon of readings."""
        pairs = zip(layout.specs, layout.rows, strict=True)
        self._plan = [(s.kind, h) for s, h in pairs if s.per_metric]
        windowed = [(j, h) for j, (k, h) in enumerate(self._plan) if k in WINDOWED]
        self._uncovered = windowed if partial else []
        self._floor = floor
        self._size = max((h for _, h in self._plan), default=0) + 1
        self._ring = [0.0] * self._size
        # The ring as an array, oldest first, as the last batch left it (None after a push).
        self._ring_array: F64Array | None = None
        self._sums = {h: [0.0, 0.0] for k, h in self._plan if k == "zscore"}
        self._ranges: dict[int, tuple[_Window, _Window]] = {
            h: (deque(), deque()) for k, h in self._plan if k == "range"
        }
        self._n = self._last_change = 0
        self._ref = self._prev = 0.0

    def push(self, x: float) -> list[float]:
        """Features of reading x against the readings before it; then learn x."""
        n = self._n
        if n == 0:
            self._ref = self._prev = x
        for h, (high, low) in self._ranges.items():
            _slide(high, low, n, x, h)
        row = [self._feature(kind, h, n, x) for kind, h in self._plan]
        if self._uncovered and n < self._size:  # the ring is longer than every horizon
            for j, h in self._uncovered:
                if n < h:
                    row[j] = math.nan
        self._learn(n, x)
        return row

    def _feature(self, kind: str, h: int, n: int, x: float) -> float:
        if kind == "value":
            return x
        if kind == "diff":
            return x - self._prev
        if kind == "zscore":
            return self._zscore(h, n, x)
        if kind == "range":
            high, low = self._ranges[h]
            return high[0][1] - low[0][1]
        if kind == "unchanged":
            return float(n - (n if x != self._prev else self._last_change))
        return x - (self._ring[(n - h) % self._size] if n >= h else self._ref)  # lag

    def _zscore(self, h: int, n: int, x: float) -> float:
        if n == 0:
            return 0.0
        s1, s2 = self._sums[h]
        count = min(n, h)
        mean = s1 / count
        std = math.sqrt(max(s2 / count - mean * mean, 0.0))
        return (x - self._ref - mean) / max(std, self._floor)

    def _learn(self, n: int, x: float) -> None:
        if x != self._prev:
            self._last_change = n
        d = x - self._ref
        for h, sums in self._sums.items():
            old = self._ring[(n - h) % self._size] - self._ref if n >= h else 0.0
            sums[0] += d - old
            sums[1] += d * d - old * old
        self._ring[n % self._size] = x
        self._ring_array = None
        self._prev = x
        self._n = n + 1

    def push_many(self, xs: F64Array) -> list[F64Array]:
        """The feature columns of many readings, as `push` on each in turn would give."""
        if self._n == 0:
            self._ref = self._prev = float(xs[0])
        full = np.concatenate((self._history(), xs))
        w = BatchWindow(full, self._n, self._ref, self._prev, len(xs))
        sums = {h: zscore_sums(w, h, *self._sums[h]) for h in self._sums}
        unchanged, last_change = unchanged_column(w, self._last_change)
        columns = [self._column(kind, h, w, sums, unchanged) for kind, h in self._plan]
        for j, h in self._uncovered:
            if self._n < h:  # readings of the batch that come before the horizon is covered
                columns[j] = columns[j].copy()
                columns[j][: h - self._n] = math.nan
        self._learn_many(w, sums, last_change)
        self._ring_array = full[-self._size :]
        return columns

    def _column(
        self, kind: str, h: int, w: BatchWindow, sums: _Sums, unchanged: F64Array
    ) -> F64Array:
        if kind == "value":
            return w.xs
        if kind == "diff":
            return w.xs - w.prevs
        if kind == "zscore":
            return zscore_column(w, h, sums[h], self._floor)
        if kind == "range":
            return range_column(w, h)
        if kind == "unchanged":
            return unchanged
        return w.xs - w.back(h)  # lag

    def _history(self) -> F64Array:
        """The readings the ring still holds, oldest first."""
        if self._ring_array is not None:  # consecutive batches: no list-to-array copy
            return self._ring_array
        return self.ring_history()

    def ring_history(self) -> F64Array:
        """The readings the ring holds, oldest first, read from the ring itself."""
        ring = np.array(self._ring, dtype=np.float64)
        return ring[: self._n] if self._n < self._size else np.roll(ring, -(self._n % self._size))

    def _learn_many(self, w: BatchWindow, sums: _Sums, last_change: int) -> None:
        """The state `_learn` leaves after the batch."""
        end = self._n + w.batch
        kept = min(w.batch, self._size)  # older readings of the batch are overwritten anyway
        for i, x in enumerate(w.xs[w.batch - kept :].tolist(), end - kept):
            self._ring[i % self._size] = x
        self._sums = {h: [float(s1[-1]), float(s2[-1])] for h, (s1, s2) in sums.items()}
        for h, (high, low) in self._ranges.items():
            if w.batch >= h:  # the window holds only batch readings: start it afresh
                high.clear()
                low.clear()
            slid = min(w.batch, h)
            for i, x in enumerate(w.xs[w.batch - slid :].tolist(), end - slid):
                _slide(high, low, i, x, h)
        self._last_change, self._prev, self._n = last_change, float(w.xs[-1]), end


_Window = deque[tuple[int, float]]
_Sums = dict[int, tuple[F64Array, F64Array]]


def _slide(high: _Window, low: _Window, n: int, x: float, h: int) -> None:
    """Push reading n on the max and min deques of an h-row window; drop the expired one."""
    while high and high[-1][1] <= x:
        high.pop()
    while low and low[-1][1] >= x:
        low.pop()
    high.append((n, x))
    low.append((n, x))
    if high[0][0] <= n - h:
        high.popleft()
    if low[0][0] <= n - h:
        low.popleft()


PRIME_BATCH_MIN = 16  # below this, numpy's set-up costs more than pushing one by one


class FeatureRows:
    """Feature rows of a device's readings, one reading at a time, with warm-up tracking."""

    def __init__(self, layout: FeatureLayout, floors: F64Array, partial: bool = False) -> None:
        """One `FeatureState` per metric; nothing seen yet. With `partial`, readings are
        never warming up: features whose horizon is not yet covered are NaN (left out)."""
        self._states = [FeatureState(layout, f, partial) for f in floors.tolist()]
        self._stamp = [(s.kind, s.horizon_ms) for s in layout.specs if not s.per_metric]
        self._interval = layout.interval_ms
        self._warmup = 0 if partial else layout.warmup_rows
        self._last_ts: int | None = None
        self.seen = 0

    @property
    def width(self) -> int:
        """Values per reading."""
        return len(self._states)

    @property
    def warming_up(self) -> bool:
        """Whether the last reading had less history than its longest baseline needs."""
        return self.seen <= self._warmup

    def push(self, ts_ms: int, value: float | Sequence[float]) -> list[float]:
        """The feature row of one reading; then learn it."""
        values = [float(value)] if isinstance(value, float | int) else [float(v) for v in value]
        if len(values) != len(self._states):
            raise InvalidInputError(("value",), f"expected {len(self._states)} values per reading")
        if not all(map(math.isfinite, values)):
            raise InvalidInputError(("value",), "readings must be finite numbers")
        row = [f for state, x in zip(self._states, values, strict=True) for f in state.push(x)]
        row += [self._stamp_feature(kind, period, ts_ms) for kind, period in self._stamp]
        self._last_ts = ts_ms
        self.seen += 1
        return row

    def push_many(
        self, ts_ms: I64Array, values: F64Array, *, context: bool = True
    ) -> tuple[list[F64Array], BoolArray]:
        """The feature columns of many finite readings (n, metrics), as `push` on each in
        turn would give, and which readings were warming up. Without `context`, the
        time-of-day and -week columns (context only, never scored) are NaN but in the last
        reading, which the state keeps."""
        columns = [c for j, state in enumerate(self._states) for c in state.push_many(values[:, j])]
        columns += [self._stamp_many(kind, period, ts_ms, context) for kind, period in self._stamp]
        self._last_ts = int(ts_ms[-1])
        seen = self.seen + 1 + np.arange(len(ts_ms))
        self.seen += len(ts_ms)
        return columns, seen <= self._warmup

    def _stamp_many(self, kind: str, period: int, ts_ms: I64Array, context: bool) -> F64Array:
        if kind == "gap":
            return gap_column(ts_ms, self._last_ts, self._interval)
        if context:
            return cycle_column(ts_ms, period, kind)
        column = np.full(len(ts_ms), np.nan)
        column[-1] = self._stamp_feature(kind, period, int(ts_ms[-1]))
        return column

    def _stamp_feature(self, kind: str, period: int, ts_ms: int) -> float:
        if kind == "gap":
            last = ts_ms if self._last_ts is None else self._last_ts
            return math.log2(max((ts_ms - last) / self._interval, 1.0))
        angle = 2 * math.pi * (ts_ms % period) / period
        return math.sin(angle) if kind == "cycle_sin" else math.cos(angle)

    def prime(self, ts_ms: I64Array, values: F64Array) -> None:
        """Learn a history without scoring it (vectorised: the state `push` would leave)."""
        stamps = np.asarray(ts_ms, dtype=np.int64)
        if len(stamps) == 0:
            return
        columns = as_columns(values)
        batchable = len(stamps) >= PRIME_BATCH_MIN and columns.shape[1] == self.width
        if batchable and np.isfinite(columns).all():
            self.push_many(stamps, columns, context=False)
            return
        # Short, malformed or non-finite histories: one by one, with push's checks and errors.
        for t, v in zip(stamps.tolist(), columns.tolist(), strict=True):
            self.push(t, v)
