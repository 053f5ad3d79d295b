"""Windowed Isolation Forest: an Isolation Forest over features of each reading's recent past."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Literal, Self

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
from forewarn.detection.isolation_forest import IsolationForestDetector, NotFittedError
from forewarn.detection.params import get_params, known_params
from forewarn.detection.pointwise import forest_template


class WindowedForest:
    """Isolation Forest over value, rate, rolling z-scores, range, time of day and staleness.

    Parameters
    ----------
    n_estimators, max_samples, contamination, seed
        As for :class:`IsolationForestDetector`; contamination sets the shipped threshold.
    metrics : sequence of str
        Names of the metrics, one per column of the values.

    Examples
    --------
    >>> import numpy as np
    >>> ts = np.arange(2000, dtype=np.int64) * 60_000
    >>> values = 25 + np.random.default_rng(0).normal(0, 0.2, 2000)
    >>> detector = WindowedForest(n_estimators=50, metrics=["temperature"]).fit(ts, values)
    >>> state = detector.prime(ts, values)
    >>> state.update(2000 * 60_000, 27.5).score > 0.6
    True

    It fails when the training history already holds the anomaly (the forest learns it as
    normal) and when one feature alone deviates: isolation dilutes it across the others.
    """

    algorithm: ClassVar[str] = "windowed_forest"
    threshold_: float
    layout_: FeatureLayout
    floors_: F64Array
    forest_: IsolationForestDetector
    baseline_: FeatureBaseline

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        max_samples: int | Literal["auto"] = "auto",
        contamination: float | Literal["auto"] = 0.001,
        seed: int = 0,
        metrics: Sequence[str] = ("value",),
    ) -> None:
        """Store the parameters; nothing is learned until fit."""
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.seed = seed
        self.metrics = tuple(metrics)

    def params(self) -> dict[str, Any]:
        """Constructor parameters, JSON-serialisable."""
        return get_params(self)

    def fit(self, ts_ms: I64Array, values: F64Array) -> Self:
        """Learn the feature layout, the forest on feature rows and a baseline to explain."""
        checked_history(ts_ms, values)
        self.layout_ = FeatureLayout.learn(ts_ms)
        self.floors_ = std_floors(values)
        rows = training_rows(
            self.layout_, batch_features(self.layout_, ts_ms, values, self.floors_)
        )
        self.forest_ = forest_template(self).fit(rows)
        self.baseline_ = FeatureBaseline.learn(rows[:, scored_columns(self.layout_, self.metrics)])
        self.threshold_ = self.forest_.threshold_
        return self

    def history_scores(self, ts_ms: I64Array, values: F64Array) -> F64Array:
        """Scores of every reading of a history, each against the readings before it."""
        rows = batch_features(self._fitted(), ts_ms, values, self.floors_)
        return self.forest_.score_many(rows)

    def prime(self, ts_ms: I64Array, values: F64Array) -> WindowedState:
        """A state primed with history."""
        features = FeatureRows(self._fitted(), self.floors_)
        features.prime(ts_ms, values)
        return WindowedState(self, features)

    def to_arrays(self) -> Arrays:
        """Forest, layout, floors and baseline as numeric arrays."""
        features = feature_arrays(self._fitted(), self.floors_, self.baseline_)
        return {**self.forest_.to_arrays(), **features}

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> Self:
        """Rebuild a fitted detector from `to_arrays` output."""
        detector = cls(**known_params(cls, params))
        detector.forest_ = IsolationForestDetector.from_arrays(arrays, params=params)
        detector.layout_, detector.floors_, detector.baseline_ = load_feature_arrays(arrays)
        detector.threshold_ = detector.forest_.threshold_
        return detector

    def _fitted(self) -> FeatureLayout:
        if not hasattr(self, "layout_"):
            raise NotFittedError("WindowedForest is warming up: call fit() first")
        return self.layout_


class WindowedState(BatchScoring):
    """Feature rows of each reading, scored by the forest."""

    def __init__(self, detector: WindowedForest, features: FeatureRows) -> None:
        """Score with `detector`'s forest, on top of primed features."""
        self._detector = detector
        self._score_one = detector.forest_.score_one
        self._features = features
        self._row: list[float] = []

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Score a reading, then learn it."""
        self._row = self._features.push(ts_ms, value)
        return Scored(self._score_one(self._row), warming_up=self._features.warming_up)

    @property
    def width(self) -> int:
        """Values per reading."""
        return self._features.width

    def score_batch(self, ts_ms: I64Array, values: F64Array) -> BatchScores:
        """As `update` on each reading in turn; the forest scores all the rows at once."""
        columns, warming_up = self._features.push_many(ts_ms, values)
        self._row = [float(c[-1]) for c in columns]
        d = self._detector
        explain = partial(d.baseline_.explain, d.layout_, d.metrics)
        scores = d.forest_.score_many(np.column_stack(columns))
        return BatchScores(scores, warming_up, by_row(explain, columns))

    def explain(self) -> Explanation:
        """Which features of the last reading deviated most from their training baseline."""
        d = self._detector
        return d.baseline_.explain(d.layout_, d.metrics, self._row)
