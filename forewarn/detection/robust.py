"""Robust z-score detector: the largest surprise of a reading's features against their
training baseline (median, MAD and tail, see `baseline`), which also explains it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Self

import numpy as np

from forewarn.detection.base import Arrays, Explanation, F64Array, I64Array, Scored
from forewarn.detection.baseline import FeatureBaseline, feature_arrays, load_feature_arrays
from forewarn.detection.batch import BatchScores, BatchScoring, by_row
from forewarn.detection.feature_state import FeatureRows
from forewarn.detection.features import (
    FeatureLayout,
    batch_features,
    checked_history,
    scored_columns,
    std_floors,
    training_rows,
)
from forewarn.detection.isolation_forest import NotFittedError
from forewarn.detection.params import get_params, known_params

S_HALF = 4.0  # surprise (decades) that maps to score 0.5: score = s / (s + S_HALF)
S_SHIPPED = 8.0  # shipped decision: a feature 10^8 times rarer than in training


def surprise_score(surprise: F64Array | float) -> Any:
    """Surprise in decades, [0, inf), as a score in [0, 1)."""
    return surprise / (surprise + S_HALF)


class RobustZScore:
    """Largest tail-calibrated robust z (median/MAD of training) over recent-past features.

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
    >>> values = 25 + np.random.default_rng(0).normal(0, 0.2, 2000)
    >>> state = RobustZScore(metrics=["temperature"]).fit(ts, values).prime(ts, values)
    >>> state.update(2000 * 60_000, 25.1).score < 0.3
    True
    >>> state.update(2001 * 60_000, 27.5).score > 0.7
    True
    >>> state.explain().summary.startswith("temperature")
    True

    It fails on anomalies that only a combination of features reveals (a normal level at
    an unusual hour, when the history is too short for the day-ago feature), and flags
    every new regime until the next retraining (after a legitimate set-point change).
    """

    algorithm: ClassVar[str] = "robust_zscore"
    threshold_: float
    layout_: FeatureLayout
    floors_: F64Array
    baseline_: FeatureBaseline

    def __init__(self, *, seed: int = 0, metrics: Sequence[str] = ("value",)) -> None:
        """Store the parameters; nothing is learned until fit."""
        self.seed = seed
        self.metrics = tuple(metrics)

    def params(self) -> dict[str, Any]:
        """Constructor parameters, JSON-serialisable."""
        return get_params(self)

    def fit(self, ts_ms: I64Array, values: F64Array) -> Self:
        """Learn the feature layout and each feature's median, MAD and tail."""
        checked_history(ts_ms, values)
        self.layout_ = FeatureLayout.learn(ts_ms)
        self.floors_ = std_floors(values)
        rows = training_rows(self.layout_, self._scored(ts_ms, values))
        self.baseline_ = FeatureBaseline.learn(rows)
        self.threshold_ = float(surprise_score(S_SHIPPED))
        return self

    def history_scores(self, ts_ms: I64Array, values: F64Array) -> F64Array:
        """Scores of every reading of a history, each against the readings before it."""
        rows = self._scored(ts_ms, values)
        top = self.baseline_.largest_surprises(list(rows.T), len(rows))
        return np.asarray(surprise_score(top), dtype=np.float64)

    def prime(self, ts_ms: I64Array, values: F64Array) -> RobustState:
        """A state primed with history."""
        features = FeatureRows(self._fitted(), self.floors_, partial=True)
        features.prime(ts_ms, values)
        return RobustState(self, features)

    def to_arrays(self) -> Arrays:
        """Layout, floors and baseline as numeric arrays."""
        return feature_arrays(self._fitted(), self.floors_, self.baseline_)

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> Self:
        """Rebuild a fitted detector from `to_arrays` output."""
        detector = cls(**known_params(cls, params))
        detector.layout_, detector.floors_, detector.baseline_ = load_feature_arrays(arrays)
        detector.threshold_ = float(surprise_score(S_SHIPPED))
        return detector

    def _scored(self, ts_ms: I64Array, values: F64Array) -> F64Array:
        layout = self._fitted()
        rows = batch_features(layout, ts_ms, values, self.floors_)
        return rows[:, scored_columns(layout, self.metrics)]

    def _fitted(self) -> FeatureLayout:
        if not hasattr(self, "layout_"):
            raise NotFittedError("RobustZScore is warming up: call fit() first")
        return self.layout_


class RobustState(BatchScoring):
    """Features of each reading against its recent past, scored by the largest surprise."""

    def __init__(self, detector: RobustZScore, features: FeatureRows) -> None:
        """Score with `detector`'s baseline, on top of primed features."""
        self._detector = detector
        self._features = features
        self._picked = scored_columns(detector.layout_, detector.metrics)
        self._row: list[float] = []

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Score a reading, then learn it."""
        self._row = self._features.push(ts_ms, value)
        top = self._detector.baseline_.largest_surprise([self._row[j] for j in self._picked])
        return Scored(top / (top + S_HALF), warming_up=self._features.warming_up)

    @property
    def width(self) -> int:
        """Values per reading."""
        return self._features.width

    def score_batch(self, ts_ms: I64Array, values: F64Array) -> BatchScores:
        """As `update` on each reading in turn; the surprises are the batch form's."""
        columns, warming_up = self._features.push_many(ts_ms, values, context=False)
        self._row = [float(c[-1]) for c in columns]
        d = self._detector
        top = d.baseline_.largest_surprises([columns[j] for j in self._picked], len(ts_ms))
        explain = partial(d.baseline_.explain, d.layout_, d.metrics)
        return BatchScores(top / (top + S_HALF), warming_up, by_row(explain, columns))

    def explain(self) -> Explanation:
        """Which features of the last reading deviated most from their baseline."""
        d = self._detector
        return d.baseline_.explain(d.layout_, d.metrics, self._row)
