"""Seasonal profile: how far a reading lies from the usual value at this time of week or day.

At fit, the training history is split into phase bins of the longest period it supports (a
week, else a day; `SEASONAL_CYCLES` periods and 24 readings per period) and each half-hour
bin keeps the median reading there; the residuals from that profile give a robust centre
and scale. A reading scores by the robust z of its residual, as ``z / (z + Z_HALF)``:
nearly linear, so the likelihood layer sees the z itself. It targets contextual anomalies:
a value normal for the series but not for the hour or weekday (holiday traffic, a machine
running at night). Without a supported period it scores 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Self

import numpy as np

from forewarn.detection.base import Arrays, Deviation, Explanation, F64Array, I64Array, Scored
from forewarn.detection.batch import BatchScores, BatchScoring
from forewarn.detection.features import (
    CYCLES_NEEDED,
    DAY_MS,
    WEEK_MS,
    FeatureLayout,
    as_columns,
    checked_history,
)
from forewarn.detection.isolation_forest import NotFittedError
from forewarn.detection.params import get_params, known_params
from forewarn.detection.pointwise import MAD_TO_SIGMA

BINS_PER_DAY = 48  # half-hour phase bins: enough readings per bin on four weeks of history
Z_HALF = 50.0  # robust z that scores 0.5; nearly linear below, so the likelihood sees z
Z_SHIPPED = 8.0  # shipped decision of the member alone
# Periods of history a profile needs: one more than the periodic features, as a median over
# three periods still carries their day-to-day wander (measured: fewer false events, same NAB).
SEASONAL_CYCLES = CYCLES_NEEDED + 1
_VECTORS = ("profile", "center", "scale")


def seasonal_period_ms(ts_ms: I64Array, interval_ms: int) -> int:
    """The longest period (week, day) the history supports, or 0."""
    span = int(ts_ms[-1] - ts_ms[0]) + interval_ms
    for period in (WEEK_MS, DAY_MS):
        if period // interval_ms >= 24 and span >= SEASONAL_CYCLES * period:
            return period
    return 0


class SeasonalProfile:
    """Robust z of a reading's residual from the median of its time-of-week (or day) bin.

    Parameters
    ----------
    seed : int
        Unused (the method is deterministic); kept for the common detector signature.
    metrics : sequence of str
        Names of the metrics, one per column of the values.

    Examples
    --------
    >>> import numpy as np
    >>> ts = np.arange(5 * 288, dtype=np.int64) * 300_000
    >>> values = 20 + 5 * np.sin(2 * np.pi * np.arange(5 * 288) / 288)
    >>> state = SeasonalProfile(metrics=["load"]).fit(ts, values).prime(ts, values)
    >>> state.update(5 * 288 * 300_000, 20.0).score < 0.1  # usual at midnight
    True
    >>> state.update(5 * 288 * 300_000 + 72 * 300_000, 20.0).score > 0.3  # not at 6 am
    True
    >>> state.explain().summary.startswith("load 20 is")
    True

    It fails on series without a stable daily or weekly shape, and on a history whose
    profile already holds the anomaly (a fault repeated at the same hour every day).
    """

    algorithm: ClassVar[str] = "seasonal_profile"
    threshold_: float
    layout_: FeatureLayout
    period_ms_: int
    profile_: F64Array  # (bins, metrics)
    center_: F64Array
    scale_: F64Array

    def __init__(self, *, seed: int = 0, metrics: Sequence[str] = ("value",)) -> None:
        """Store the parameters; nothing is learned until fit."""
        self.seed = seed
        self.metrics = tuple(metrics)

    def params(self) -> dict[str, Any]:
        """Constructor parameters, JSON-serialisable."""
        return get_params(self)

    def fit(self, ts_ms: I64Array, values: F64Array) -> Self:
        """Learn the period, each bin's median and the residuals' robust centre and scale."""
        checked_history(ts_ms, values)
        self.layout_ = FeatureLayout.learn(ts_ms)
        self.period_ms_ = seasonal_period_ms(ts_ms, self.layout_.interval_ms)
        columns = as_columns(values)
        self.profile_ = self._learn_profile(ts_ms, columns)
        residuals = columns - self.profile_[self._bins(ts_ms)]
        self.center_ = np.median(residuals, axis=0)
        spread = np.abs(residuals - self.center_)
        scale = MAD_TO_SIGMA * np.median(spread, axis=0)
        scale = np.where(scale > 0, scale, 1.2533 * spread.mean(axis=0))
        self.scale_ = np.maximum(scale, 1e-9 * (1 + np.abs(np.median(columns, axis=0))))
        self.threshold_ = Z_SHIPPED / (Z_SHIPPED + Z_HALF)
        return self

    def history_scores(self, ts_ms: I64Array, values: F64Array) -> F64Array:
        """Scores of every reading of a history (the profile does not depend on order)."""
        self._check_fitted()
        if not self.period_ms_:
            return np.zeros(len(ts_ms), dtype=np.float64)
        z = np.abs(as_columns(values) - self.profile_[self._bins(ts_ms)] - self.center_)
        top = np.max(z / self.scale_, axis=1, initial=0.0)
        return np.asarray(top / (top + Z_HALF), dtype=np.float64)

    def prime(self, ts_ms: I64Array, values: F64Array) -> SeasonalState:
        """A state (the profile needs no recent history)."""
        self._check_fitted()
        return SeasonalState(self)

    def bin_of(self, ts_ms: int) -> int:
        """The phase bin of a timestamp (0 without a period)."""
        if not self.period_ms_:
            return 0
        return (ts_ms % self.period_ms_) * len(self.profile_) // self.period_ms_

    def to_arrays(self) -> Arrays:
        """Layout, period, profile and residual scale as numeric arrays."""
        self._check_fitted()
        return {
            **self.layout_.to_arrays(),
            "period_ms": np.array(self.period_ms_, dtype=np.int64),
            **{k: getattr(self, f"{k}_") for k in _VECTORS},
        }

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> Self:
        """Rebuild a fitted detector from `to_arrays` output."""
        detector = cls(**known_params(cls, params))
        detector.layout_ = FeatureLayout.from_arrays(arrays)
        detector.period_ms_ = int(arrays["period_ms"])
        for k in _VECTORS:
            setattr(detector, f"{k}_", np.asarray(arrays[k], dtype=np.float64))
        detector.threshold_ = Z_SHIPPED / (Z_SHIPPED + Z_HALF)
        return detector

    def _learn_profile(self, ts_ms: I64Array, columns: F64Array) -> F64Array:
        """Median reading per phase bin; a bin no reading fell in gets the overall median."""
        if not self.period_ms_:
            return np.median(columns, axis=0, keepdims=True)
        per_period = self.period_ms_ // self.layout_.interval_ms
        n_bins = int(min(BINS_PER_DAY * self.period_ms_ // DAY_MS, per_period))
        bins = (ts_ms % self.period_ms_) * n_bins // self.period_ms_
        profile = np.tile(np.median(columns, axis=0), (n_bins, 1))
        order = np.argsort(bins, kind="stable")
        edges = np.searchsorted(bins[order], np.arange(n_bins + 1))
        for b in np.flatnonzero(np.diff(edges)):
            profile[b] = np.median(columns[order[edges[b] : edges[b + 1]]], axis=0)
        return profile

    def _bins(self, ts_ms: I64Array) -> I64Array:
        if not self.period_ms_:
            return np.zeros(len(ts_ms), dtype=np.int64)
        bins = (np.asarray(ts_ms, dtype=np.int64) % self.period_ms_) * len(self.profile_)
        return np.asarray(bins // self.period_ms_, dtype=np.int64)

    def _check_fitted(self) -> None:
        if not hasattr(self, "profile_"):
            raise NotFittedError("SeasonalProfile is warming up: call fit() first")


class SeasonalState(BatchScoring):
    """Each reading against the profile of its phase bin."""

    def __init__(self, detector: SeasonalProfile) -> None:
        """Score with `detector`'s profile."""
        self._detector = detector
        self._profile = detector.profile_.tolist()
        self._center = detector.center_.tolist()
        self._scale = detector.scale_.tolist()
        self._active = bool(detector.period_ms_)
        self._last: tuple[int, list[float], list[float]] = (0, [], [])

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Score a reading by the largest robust z of its residual over the metrics."""
        values = [float(value)] if isinstance(value, float | int) else [float(v) for v in value]
        b = self._detector.bin_of(ts_ms)
        expected = self._profile[b]
        z = [
            abs(x - e - c) / s
            for x, e, c, s in zip(values, expected, self._center, self._scale, strict=True)
        ]
        self._last = (b, values, z)
        top = max(z) if self._active else 0.0
        return Scored(top / (top + Z_HALF))

    @property
    def width(self) -> int:
        """Values per reading."""
        return len(self._center)

    def score_batch(self, ts_ms: I64Array, values: F64Array) -> BatchScores:
        """As `update` on each reading in turn, in one numpy expression."""
        d = self._detector
        bins = d._bins(ts_ms)
        z = np.abs(values - d.profile_[bins] - d.center_) / d.scale_
        top = z.max(axis=1) if self._active else np.zeros(len(z))
        self._last = (int(bins[-1]), values[-1].tolist(), z[-1].tolist())
        explain = partial(self._explain_at, bins, values, z)
        return BatchScores(top / (top + Z_HALF), np.zeros(len(z), dtype=bool), explain)

    def explain(self) -> Explanation:
        """The metric furthest from its usual value at this phase."""
        return self._explain(*self._last)

    def _explain_at(self, bins: I64Array, values: F64Array, z: F64Array, i: int) -> Explanation:
        return self._explain(int(bins[i]), values[i].tolist(), z[i].tolist())

    def _explain(self, b: int, values: list[float], z: list[float]) -> Explanation:
        metrics = self._detector.metrics
        if not values:
            return Explanation("no reading scored yet", (), metrics)
        expected = [e + c for e, c in zip(self._profile[b], self._center, strict=True)]
        deviations = tuple(
            Deviation("seasonal", x, e, s, m)
            for m, x, e, s in zip(metrics, values, expected, self._scale, strict=True)
        )
        ranked = sorted(range(len(z)), key=lambda j: -z[j])
        d = deviations[ranked[0]]
        side = "above" if d.value >= d.baseline else "below"
        when = "week" if self._detector.period_ms_ == WEEK_MS else "day"
        summary = (
            f"{d.metric} {d.value:.4g} is {abs(d.sigmas):.1f}σ {side} "
            f"its usual {d.baseline:.4g} at this time of {when}"
        )
        return Explanation(summary, deviations, tuple(metrics[j] for j in ranked))
