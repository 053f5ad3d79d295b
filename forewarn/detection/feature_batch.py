"""The streaming features of `feature_state`, for a whole batch of readings at once.

Each function computes one kind of feature for every reading of a batch from a
`BatchWindow`: the batch after the history a feature may look back on. The numbers are
bit-for-bit those of `FeatureState.push` one reading at a time, because each is computed
by the same floating-point operations in the same order: the running sums of the rolling
z-score are a sequential `np.cumsum` of the same increments (numpy accumulates strictly
left to right), ranges and lags only select values, and the transcendental functions
(log2, sin, cos) are the C library's, called through `math` as the streaming path does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from forewarn.detection.base import F64Array, I64Array

Extreme = Callable[[F64Array, F64Array], F64Array]


@dataclass(frozen=True)
class BatchWindow:
    """A batch of one metric's readings after the history a feature may look back on.

    `full` is that history (the last `size` readings at most) followed by the batch;
    `first` is the reading count before the batch; `ref` and `prev` are the state's
    reference level and last reading (the batch's first reading on a fresh state).
    """

    full: F64Array
    first: int
    ref: float
    prev: float
    batch: int  # readings in the batch

    @property
    def xs(self) -> F64Array:
        """The batch's readings."""
        return self.full[len(self.full) - self.batch :]

    @property
    def index(self) -> I64Array:
        """Each batch reading's position in the state (0 for the first reading ever)."""
        return self.first + np.arange(self.batch, dtype=np.int64)

    @property
    def prevs(self) -> F64Array:
        """The reading before each batch reading (itself for the first reading ever)."""
        return np.concatenate(([self.prev], self.xs[:-1]))

    def back(self, h: int) -> F64Array:
        """The reading h readings before each one, or `ref` where there is none."""
        start = len(self.full) - self.batch - h
        if start >= 0:
            return self.full[start : start + self.batch]
        # The history is the whole state: the first -start readings have none that old.
        none = np.full(min(-start, self.batch), self.ref)
        return np.concatenate((none, self.full[: max(start + self.batch, 0)]))


def zscore_sums(w: BatchWindow, h: int, s1: float, s2: float) -> tuple[F64Array, F64Array]:
    """Running sums of (x - ref) and its square over the last h readings, before each batch
    reading and after the last (n + 1 values), accumulated as `FeatureState._learn` does."""
    d = w.xs - w.ref
    old = np.where(w.index >= h, w.back(h) - w.ref, 0.0)
    first = np.cumsum(np.concatenate(([s1], d - old)))
    second = np.cumsum(np.concatenate(([s2], d * d - old * old)))
    return first, second


def zscore_column(
    w: BatchWindow, h: int, sums: tuple[F64Array, F64Array], floor: float
) -> F64Array:
    """z of each reading against the mean and std of the h readings before it."""
    count = np.maximum(np.minimum(w.index, h), 1)
    mean = sums[0][:-1] / count
    std = np.sqrt(np.maximum(sums[1][:-1] / count - mean * mean, 0.0))
    z = (w.xs - w.ref - mean) / np.maximum(std, floor)
    return np.where(w.index == 0, 0.0, z)


def sliding_extreme(a: F64Array, h: int, extreme: Extreme) -> F64Array:
    """max (or min) of every h consecutive values, by doubling spans: O(n log h)."""
    span, out = 1, a
    while 2 * span <= h:
        out = extreme(out[:-span], out[span:])  # out[i]: over a[i : i + 2 * span]
        span *= 2
    count = len(a) - h + 1
    return extreme(out[:count], out[h - span : h - span + count])


def range_column(w: BatchWindow, h: int) -> F64Array:
    """max - min of the h readings up to and including each one (fewer at the start)."""
    # Padding with the first value ever changes no extreme: windows reach back that far
    # only when the history holds the whole state.
    padded = np.concatenate((np.full(h - 1, w.full[0]), w.full))[-(w.batch + h - 1) :]
    high = sliding_extreme(padded, h, np.maximum)
    low = sliding_extreme(padded, h, np.minimum)
    return np.asarray(high - low, dtype=np.float64)


def unchanged_column(w: BatchWindow, last_change: int) -> tuple[F64Array, int]:
    """Readings since the value last changed, and the position of the last change."""
    index = w.index
    marks = np.where(w.xs != w.prevs, index, last_change)
    latest = np.maximum.accumulate(marks)
    return (index - latest).astype(np.float64), int(latest[-1])


def gap_column(ts_ms: I64Array, last_ts: int | None, interval_ms: int) -> F64Array:
    """log2 of the time since the previous reading in sampling intervals (at least 1)."""
    before = ts_ms[0] if last_ts is None else last_ts
    ratio = (ts_ms - np.concatenate(([before], ts_ms[:-1]))) / interval_ms
    out = np.zeros(len(ts_ms))
    longer = np.flatnonzero(ratio > 1.0)
    out[longer] = [math.log2(r) for r in ratio[longer].tolist()]
    return out


def cycle_column(ts_ms: I64Array, period_ms: int, kind: str) -> F64Array:
    """sin or cos of each timestamp's phase in the period."""
    angle = 2 * math.pi * (ts_ms % period_ms) / period_ms
    wave = math.sin if kind == "cycle_sin" else math.cos
    return np.fromiter(map(wave, angle.tolist()), dtype=np.float64, count=len(angle))
