"""Rare level: how seldom the training history visited the levels of the last hour.

A slow fault can stay inside the range ever seen and move too gently for any feature to
be extreme at one reading, yet sit for hours at levels the series rarely visits (a machine
cooling down past where it normally runs). At fit, each metric's training range is cut
into bins costed by how far out their level lies (`level_bins`): the typical level costs
nothing, the levels at the edge of training about ``log10(n / 2)`` decades. The raw score is the
mean cost over the last hour of readings (fewer at the start, as windowed features do), in
decades like the robust member's surprise and mapped to [0, 1) the same way
(`robust.surprise_score`). Readings beyond the range count in the end bins: leaving the
range is the range check's job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Self

import numpy as np

from forewarn.detection.base import Arrays, Deviation, Explanation, F64Array, I64Array, Scored
from forewarn.detection.batch import BatchScores, BatchScoring
from forewarn.detection.features import (
    HOUR_MS,
    MINUTE_MS,
    FeatureLayout,
    as_columns,
    checked_history,
    covered_rows,
)
from forewarn.detection.isolation_forest import NotFittedError
from forewarn.detection.level_bins import MICRO, bin_index, cost_of, level_costs
from forewarn.detection.params import get_params, known_params
from forewarn.detection.robust import surprise_score

HORIZON_MS = HOUR_MS  # the feature table's shortest horizon: long enough to be a level
RARE_SHIPPED = 2.0  # shipped decision of the member alone: an hour whose levels average the
# two-sided 1 % tails of training (in the ensemble the likelihood layer decides instead)
LEFT_OUT = "levels left out: too little history yet to know which are rare"
_VECTORS = ("low", "width", "typical")


class RareLevel:
    """Mean rarity, over the last hour, of the levels a series visited in training.

    Parameters
    ----------
    seed : int
        Unused (the method is deterministic); kept for the common detector signature.
    metrics : sequence of str
        Names of the metrics, one per column of the values.

    Examples
    --------
    >>> import numpy as np
    >>> ts = np.arange(2000, dtype=np.int64) * 60_000
    >>> values = np.concatenate([np.full(1960, 60.0), np.full(40, 30.0)])
    >>> values += np.random.default_rng(0).normal(0, 1, 2000)
    >>> state = RareLevel(metrics=["temperature"]).fit(ts, values).prime(ts, values)
    >>> usual = [state.update((2000 + i) * 60_000, 60.0).score for i in range(60)]
    >>> rare = [state.update((2060 + i) * 60_000, 30.0).score for i in range(60)]
    >>> rare[-1] > 2 * usual[-1]
    True
    >>> print(state.explain().summary)  # doctest: +NORMALIZE_WHITESPACE
    temperature has spent the last 1 h at levels as far from usual as 2.6 % of its
    training readings

    It fails on series whose level wanders (a new normal level looks rare until the next
    retraining) and on faults at levels the training history visited often.
    """

    algorithm: ClassVar[str] = "rare_level"
    threshold_: float
    layout_: FeatureLayout
    rows_: int
    low_: F64Array
    width_: F64Array
    costs_: I64Array  # (metrics, most bins), -1 past a metric's own bins
    typical_: F64Array

    def __init__(self, *, seed: int = 0, metrics: Sequence[str] = ("value",)) -> None:
        """Store the parameters; nothing is learned until fit."""
        self.seed = seed
        self.metrics = tuple(metrics)

    def params(self) -> dict[str, Any]:
        """Constructor parameters, JSON-serialisable."""
        return get_params(self)

    def fit(self, ts_ms: I64Array, values: F64Array) -> Self:
        """Learn the horizon in rows, each metric's level bins and its typical cost."""
        checked_history(ts_ms, values)
        self.layout_ = FeatureLayout.learn(ts_ms)
        # 0: too little history to know which levels are rare
        self.rows_ = covered_rows(HORIZON_MS, self.layout_.interval_ms, len(ts_ms))
        columns = as_columns(values)
        learned = [level_costs(x) for x in columns.T]
        most = max(len(c) for _, _, c in learned)
        self.low_ = np.array([low for low, _, _ in learned])
        self.width_ = np.array([width for _, width, _ in learned])
        padded = [np.pad(c, (0, most - len(c)), constant_values=-1) for *_, c in learned]
        self.costs_ = np.array(padded)
        self.typical_ = np.median(self._mean_costs(columns, 0, np.zeros(0, np.int64)), axis=0)
        self.threshold_ = float(surprise_score(RARE_SHIPPED))
        return self

    def history_scores(self, ts_ms: I64Array, values: F64Array) -> F64Array:
        """Scores of every reading of a history, each over the readings up to it."""
        self._check_fitted()
        if not self.rows_:
            return np.zeros(len(ts_ms), dtype=np.float64)
        top = self._mean_costs(as_columns(values), 0, np.zeros((0, len(self.metrics)), np.int64))
        top = top.max(axis=1)
        return np.asarray(surprise_score(top), dtype=np.float64)

    def prime(self, ts_ms: I64Array, values: F64Array) -> RareLevelState:
        """A state holding the costs of the history's last horizon of readings."""
        self._check_fitted()
        columns = as_columns(values)
        recent = self.costs_of(columns[len(columns) - self.rows_ :]) if self.rows_ else None
        return RareLevelState(self, recent, len(columns))

    def costs_of(self, columns: F64Array) -> I64Array:
        """Each reading's cost per metric (n, metrics), in micro-decades."""
        out = np.empty(columns.shape, dtype=np.int64)
        for j in range(columns.shape[1]):
            bins = int(np.count_nonzero(self.costs_[j] >= 0)) - 2
            index = bin_index(columns[:, j], float(self.low_[j]), float(self.width_[j]), bins)
            out[:, j] = self.costs_[j][index]
        return out

    def to_arrays(self) -> Arrays:
        """Layout, horizon, bins and costs as numeric arrays."""
        self._check_fitted()
        return {
            **self.layout_.to_arrays(),
            "rows": np.array(self.rows_, dtype=np.int64),
            "costs": self.costs_,
            **{k: getattr(self, f"{k}_") for k in _VECTORS},
        }

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> Self:
        """Rebuild a fitted detector from `to_arrays` output."""
        detector = cls(**known_params(cls, params))
        detector.layout_ = FeatureLayout.from_arrays(arrays)
        detector.rows_ = int(arrays["rows"])
        detector.costs_ = np.asarray(arrays["costs"], dtype=np.int64)
        for k in _VECTORS:
            setattr(detector, f"{k}_", np.asarray(arrays[k], dtype=np.float64))
        detector.threshold_ = float(surprise_score(RARE_SHIPPED))
        return detector

    def _mean_costs(self, columns: F64Array, seen: int, before: I64Array) -> F64Array:
        """Mean cost in decades over the last `rows_` readings after each new reading, given
        the costs of the (up to `rows_`) readings before them and how many were seen."""
        rows = max(self.rows_, 1)
        costs = np.concatenate((before.reshape(-1, columns.shape[1]), self.costs_of(columns)))
        sums = np.cumsum(np.concatenate((np.zeros((1, columns.shape[1]), np.int64), costs)), 0)
        end = np.arange(len(before) + 1, len(costs) + 1)
        window = sums[end] - sums[np.maximum(end - rows, 0)]
        count = np.minimum(seen + np.arange(1, len(columns) + 1), rows) * MICRO
        return np.asarray(window / count[:, None], dtype=np.float64)

    def _check_fitted(self) -> None:
        if not hasattr(self, "costs_"):
            raise NotFittedError("RareLevel is warming up: call fit() first")


class RareLevelState(BatchScoring):
    """The costs of the last horizon of readings, in a ring, and their running sums."""

    def __init__(self, detector: RareLevel, recent: I64Array | None, seen: int) -> None:
        """Start from the costs of the history's last readings (oldest first)."""
        self._detector = detector
        self._rows = detector.rows_
        width = len(detector.metrics)
        start = recent if recent is not None else np.zeros((0, width), np.int64)
        self._ring: list[list[int]] = start.tolist()
        self._sums = [int(s) for s in start.sum(axis=0).tolist()] if len(start) else [0] * width
        self._seen = seen
        self._last: list[float] = []
        # Plain lists: one reading's bin lookup is faster in Python than through numpy.
        self._bins = [
            (low, step, [c for c in costs if c >= 0])
            for low, step, costs in zip(
                detector.low_.tolist(),
                detector.width_.tolist(),
                detector.costs_.tolist(),
                strict=True,
            )
        ]

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Add the reading's costs to the window, drop the oldest, score the mean."""
        values = [float(value)] if isinstance(value, float | int) else [float(v) for v in value]
        if not self._rows:
            self._last = [0.0] * len(values)
            return Scored(0.0)
        costs = [cost_of(x, *bins) for x, bins in zip(values, self._bins, strict=True)]
        self._ring.append(costs)
        old = self._ring.pop(0) if len(self._ring) > self._rows else [0] * len(costs)
        self._sums = [s + c - o for s, c, o in zip(self._sums, costs, old, strict=True)]
        self._seen += 1
        count = min(self._seen, self._rows) * MICRO
        self._last = [s / count for s in self._sums]
        top = max(self._last)
        return Scored(surprise_score(top))

    @property
    def width(self) -> int:
        """Values per reading."""
        return len(self._detector.metrics)

    def score_batch(self, ts_ms: I64Array, values: F64Array) -> BatchScores:
        """As `update` on each reading in turn: integer window sums, so exactly equal."""
        d, n = self._detector, len(ts_ms)
        if not self._rows:
            self._last = [0.0] * values.shape[1]
            return BatchScores(np.zeros(n), np.zeros(n, dtype=bool), self._explain_row(None))
        before = np.array(self._ring, dtype=np.int64).reshape(-1, values.shape[1])
        means = d._mean_costs(values, self._seen, before)
        tail = np.concatenate((before, d.costs_of(values)))[-self._rows :]
        self._ring, self._seen = tail.tolist(), self._seen + n
        self._sums = [int(s) for s in tail.sum(axis=0).tolist()]
        self._last = means[-1].tolist()
        top = means.max(axis=1)
        explain = partial(_explain_at, self, means)
        return BatchScores(surprise_score(top), np.zeros(n, dtype=bool), explain)

    def explain(self) -> Explanation:
        """The metric whose recent levels were rarest in training."""
        return self.explain_means(self._last)

    def explain_means(self, means: list[float]) -> Explanation:
        """Phrase each metric's mean cost over the horizon."""
        d = self._detector
        if not means or not self._rows:
            return Explanation(LEFT_OUT, (), d.metrics)
        deviations = tuple(
            Deviation("rare_level", m, t, 1.0, name)
            for name, m, t in zip(d.metrics, means, d.typical_.tolist(), strict=True)
        )
        ranked = sorted(range(len(means)), key=lambda j: -means[j])
        top = deviations[ranked[0]]
        minutes = min(self._seen, self._rows) * d.layout_.interval_ms // MINUTE_MS
        span = f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
        summary = (
            f"{top.metric} has spent the last {span} at levels as far from usual as "
            f"{100 * 10**-top.value:.2g} % of its training readings"
        )
        return Explanation(summary, deviations, tuple(d.metrics[j] for j in ranked))

    def _explain_row(self, means: F64Array | None) -> Any:
        return lambda i: self.explain_means([] if means is None else means[i].tolist())


def _explain_at(state: RareLevelState, means: F64Array, i: int) -> Explanation:
    """The explanation of reading i of a batch."""
    return state.explain_means(means[i].tolist())
