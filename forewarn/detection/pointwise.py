"""The replaced platform's detector: an Isolation Forest on each reading's value alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Literal, Protocol, Self

import numpy as np

from forewarn.detection.base import (
    Arrays,
    Deviation,
    Explanation,
    F64Array,
    I64Array,
    Scored,
)
from forewarn.detection.batch import BatchScores, BatchScoring
from forewarn.detection.isolation_forest import IsolationForestDetector, NotFittedError
from forewarn.detection.params import get_params, known_params


class ForestOptions(Protocol):
    """A detector that carries the Isolation Forest's constructor parameters."""

    n_estimators: int
    contamination: float | Literal["auto"]
    max_samples: int | Literal["auto"]
    seed: int


def forest_template(options: ForestOptions) -> IsolationForestDetector:
    """An unfitted Isolation Forest with the detector's parameters."""
    return IsolationForestDetector(
        n_estimators=options.n_estimators,
        contamination=options.contamination,
        max_samples=options.max_samples,
        seed=options.seed,
    )


# Median absolute deviation to standard deviation for normal data.
MAD_TO_SIGMA = 1.4826


def robust_baseline(values: F64Array) -> tuple[F64Array, F64Array]:
    """Per-column median and MAD-based scale (never zero) of training values."""
    columns = values.reshape(len(values), -1)
    median = np.median(columns, axis=0)
    scale = MAD_TO_SIGMA * np.median(np.abs(columns - median), axis=0)
    fallback = np.maximum(np.std(columns, axis=0), 1e-9)
    return median, np.where(scale > 0, scale, fallback)


class PointwiseForest:
    """Isolation Forest over the raw value(s) of each reading, no history.

    Parameters
    ----------
    n_estimators, contamination, max_samples, seed
        As for :class:`IsolationForestDetector`.

    Examples
    --------
    >>> import numpy as np
    >>> ts = np.arange(500, dtype=np.int64) * 60_000
    >>> values = np.random.default_rng(0).normal(25.0, 1.0, 500)
    >>> state = PointwiseForest(n_estimators=50).fit(ts, values).prime(ts, values)
    >>> state.update(500 * 60_000, 45.0).score > 0.6
    True

    It fails on faults that stay inside the learned range (a stuck sensor, a slow drift, a
    spike at a time of day when that level is unusual) because it never looks at the past.
    """

    algorithm: ClassVar[str] = "isolation_forest"
    threshold_: float
    forest_: IsolationForestDetector
    median_: F64Array
    scale_: F64Array

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        contamination: float | Literal["auto"] = 0.01,
        max_samples: int | Literal["auto"] = "auto",
        seed: int = 0,
        metrics: Sequence[str] = ("value",),
    ) -> None:
        """Store the parameters; nothing is learned until fit."""
        self.n_estimators = n_estimators
        self.contamination = contamination
        self.max_samples = max_samples
        self.seed = seed
        self.metrics = tuple(metrics)

    def params(self) -> dict[str, Any]:
        """Constructor parameters, JSON-serialisable."""
        return get_params(self)

    def fit(self, ts_ms: I64Array, values: F64Array) -> Self:
        """Learn the forest and a robust per-metric baseline for explanations."""
        self.forest_ = forest_template(self).fit(values)
        self.threshold_ = self.forest_.threshold_
        self.median_, self.scale_ = robust_baseline(np.asarray(values, dtype=np.float64))
        return self

    def prime(self, ts_ms: I64Array, values: F64Array) -> PointwiseState:
        """A state; history is irrelevant to a point-wise model."""
        self._check_fitted()
        return PointwiseState(self)

    def to_arrays(self) -> Arrays:
        """The forest's compact encoding plus the baseline."""
        self._check_fitted()
        return {**self.forest_.to_arrays(), "median": self.median_, "scale": self.scale_}

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> Self:
        """Rebuild a fitted detector from `to_arrays` output."""
        detector = cls(**known_params(cls, params))
        detector.forest_ = IsolationForestDetector.from_arrays(arrays, params=params)
        detector.threshold_ = detector.forest_.threshold_
        detector.median_ = np.asarray(arrays["median"], dtype=np.float64)
        detector.scale_ = np.asarray(arrays["scale"], dtype=np.float64)
        return detector

    def _check_fitted(self) -> None:
        if not hasattr(self, "forest_"):
            raise NotFittedError("PointwiseForest is warming up: call fit() first")


class PointwiseState(BatchScoring):
    """Scores each reading alone; keeps only the last one, for its explanation."""

    def __init__(self, detector: PointwiseForest) -> None:
        self._detector = detector
        self._forest = detector.forest_
        self._last: float | Sequence[float] = detector.median_.tolist()

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Score one reading."""
        self._last = value  # kept as given; only an explanation needs it as an array
        if isinstance(value, float | int):
            return Scored(self._forest.score_one(float(value)))
        return Scored(self._forest.score_one(value))

    @property
    def width(self) -> int:
        """Values per reading."""
        return len(self._detector.metrics)

    def score_batch(self, ts_ms: I64Array, values: F64Array) -> BatchScores:
        """Score many readings at once: a point-wise model has no state to advance."""
        scores = self._forest.score_many(values if self.width > 1 else values[:, 0])
        self._last = self._as_given(values[-1])
        calm = np.zeros(len(scores), dtype=bool)  # a point-wise model never warms up
        return BatchScores(scores, calm, partial(self._explain_row, values))

    def _explain_row(self, values: F64Array, i: int) -> Explanation:
        return self._explained(self._as_given(values[i]))

    def _as_given(self, row: F64Array) -> float | list[float]:
        return row.tolist() if self.width > 1 else float(row[0])

    def explain(self) -> Explanation:
        """Which metric lies farthest from its learned median, in robust sigmas."""
        return self._explained(self._last)

    def _explained(self, reading: float | Sequence[float]) -> Explanation:
        d = self._detector
        deviations = sorted(
            (
                Deviation("value", float(v), float(m), float(s), metric=name)
                for name, v, m, s in zip(
                    d.metrics, np.atleast_1d(reading), d.median_, d.scale_, strict=True
                )
            ),
            key=lambda dev: -abs(dev.sigmas),
        )
        top = deviations[0]
        direction = "above" if top.sigmas > 0 else "below"
        summary = (
            f"{top.metric} {top.value:.4g} is {abs(top.sigmas):.1f}σ {direction} "
            f"its learned median {top.baseline:.4g}"
        )
        return Explanation(summary, tuple(deviations), tuple(dev.metric for dev in deviations))
