"""Robust baseline: each feature's median and MAD, as a detector and as the explainer.

`FeatureBaseline` learns, per feature column, a median, a MAD-based scale and how rare
large robust z-scores are. A reading's *surprise* on a feature is how many decades rarer
than in training its z is: piecewise linear through 1 decade at the 90th percentile of
training z, 2 at the 99th and 3 at the 99.9th (with enough rows), then onwards with the
slope of the last piece: an exponential tail fitted to each feature, heavy-tailed or not.
Every detector here explains readings with it ("temperature rose 4.1σ above its 1-hour
mean; rate of change 6× usual").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np

from forewarn.detection.base import Arrays, Deviation, Explanation, F64Array, I64Array, Scored
from forewarn.detection.feature_stream import FeatureStream
from forewarn.detection.features import (
    FeatureLayout,
    FeatureSpec,
    batch_features,
    checked_history,
    horizon_text,
    scored_columns,
    std_floors,
    training_rows,
)
from forewarn.detection.isolation_forest import NotFittedError
from forewarn.detection.pointwise import MAD_TO_SIGMA

S_HALF = 4.0  # surprise (decades) that maps to score 0.5: score = s / (s + S_HALF)
S_SHIPPED = 8.0  # shipped decision: a feature 10^8 times rarer than in training
MIN_DECADE = 0.5  # robust sigmas per decade of rarity, at least: a flat feature is no law
TOP_KNOT_ROWS = 2_000  # rows needed to trust the 99.9th percentile (two beyond it)
MIN_SCALE = 0.25  # scale of a feature that is almost always exactly zero (e.g. "unchanged")
_VECTORS = ("center", "scale", "typical", "z90", "z99", "mid", "top")
_Tail = tuple[float, float, float, float, float, float]


@dataclass(frozen=True)
class FeatureBaseline:
    """Per scored column: median, robust scale, typical magnitude and tail shape."""

    center: F64Array
    scale: F64Array
    typical: F64Array
    z90: F64Array
    z99: F64Array
    mid: F64Array  # robust sigmas per decade between z90 and z99
    top: F64Array  # ... beyond z99 (through the 99.9th percentile, given enough rows)
    _tail: list[_Tail] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Plain tuples: the per-reading path reads them faster than numpy scalars.
        columns = (self.center, self.scale, self.z90, self.z99, self.mid, self.top)
        object.__setattr__(self, "_tail", list(zip(*(c.tolist() for c in columns), strict=True)))

    @classmethod
    def learn(cls, rows: F64Array) -> FeatureBaseline:
        """Learn from training rows of the scored columns only."""
        center = np.median(rows, axis=0)
        spread = np.abs(rows - center)
        scale = MAD_TO_SIGMA * np.median(spread, axis=0)
        scale = np.where(scale > 0, scale, 1.2533 * spread.mean(axis=0))  # mean AD to sigma
        floor = np.where(np.abs(center) < 1e-12, MIN_SCALE, 1e-9 * (1 + np.abs(center)))
        scale = np.maximum(scale, floor)
        z = spread / scale
        z90, z99, z999 = np.quantile(z, [0.9, 0.99, 0.999], axis=0)
        mid = np.maximum(z99 - z90, MIN_DECADE)
        top = z999 - z99 if len(rows) >= TOP_KNOT_ROWS else mid
        typical = np.median(np.abs(rows), axis=0)
        return cls(center, scale, typical, z90, z99, mid, np.maximum(top, MIN_DECADE))

    def surprises(self, rows: F64Array) -> F64Array:
        """Per row and scored column: decades of rarity of the robust z (batch form)."""
        z = np.abs(rows - self.center) / self.scale
        low = np.divide(z, self.z90, out=np.zeros_like(z), where=self.z90 > 0)
        mid = 1.0 + (z - self.z90) / self.mid
        top = 2.0 + (z - self.z99) / self.top
        return np.asarray(np.where(z > self.z99, top, np.where(z > self.z90, mid, low)))

    def largest_surprise(self, row: Sequence[float]) -> float:
        """The largest surprise over the scored columns of one row (streaming form)."""
        return max(map(_surprise, row, self._tail), default=0.0)

    def explain(
        self, layout: FeatureLayout, metrics: tuple[str, ...], row: Sequence[float]
    ) -> Explanation:
        """The most surprising features of a full feature row, phrased; metrics ranked."""
        if not row:
            return Explanation("no reading scored yet", (), metrics)
        columns = layout.columns(metrics)
        picked = enumerate(scored_columns(layout, metrics))
        found = sorted(((self._surprise(k, row[j]), k, j) for k, j in picked), key=lambda f: -f[0])
        deviations = [self._deviation(k, *columns[j], row[j]) for _, k, j in found]
        first = deviations[0].metric
        top = [(k, j) for (_, k, j), d in zip(found, deviations, strict=True) if d.metric == first]
        phrases = [
            _phrase(columns[j][1], self._deviation(k, *columns[j], row[j]), float(self.typical[k]))
            for k, j in top[:2]
        ]
        # "temperature rose 4.1σ above its 1-hour mean; rate of change 6× usual"
        summary = "; ".join([phrases[0], *(p.removeprefix(f"{first} ") for p in phrases[1:])])
        ranked = tuple(dict.fromkeys(d.metric for d in deviations if d.metric)) or metrics
        return Explanation(summary, tuple(deviations), ranked)

    def _deviation(self, k: int, metric: str, spec: FeatureSpec, value: float) -> Deviation:
        return Deviation(spec.name, value, float(self.center[k]), float(self.scale[k]), metric)

    def _surprise(self, k: int, value: float) -> float:
        return _surprise(value, self._tail[k])

    def to_arrays(self, prefix: str) -> Arrays:
        """The vectors under prefixed names."""
        return {f"{prefix}{k}": getattr(self, k) for k in _VECTORS}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray[Any, Any]], prefix: str) -> Self:
        """Rebuild from `to_arrays` output."""
        return cls(*(np.asarray(arrays[prefix + k], dtype=np.float64) for k in _VECTORS))


def _surprise(value: float, tail: _Tail) -> float:
    """Decades of rarity of one feature value (see the module docstring)."""
    center, scale, z90, z99, mid, top = tail
    z = abs(value - center) / scale
    if z > z99:
        return 2.0 + (z - z99) / top
    if z > z90:
        return 1.0 + (z - z90) / mid
    return z / z90 if z90 > 0 else 0.0


def _phrase(spec: FeatureSpec, d: Deviation, typical: float) -> str:
    """One deviation in words, with its feature's phrase."""
    up = d.value >= (0.0 if spec.kind == "zscore" else d.baseline)
    return spec.phrase.format(
        metric=d.metric, value=d.value, baseline=d.baseline, sigmas=abs(d.sigmas),
        z=abs(d.value), verb="rose" if up else "fell", side="above" if up else "below",
        ratio=abs(d.value) / (typical if typical > 0 else d.scale),
        horizon=horizon_text(spec.horizon_ms),
        intervals=2.0 ** min(d.value, 60.0) if spec.kind == "gap" else 0.0,
    )  # fmt: skip


def feature_arrays(layout: FeatureLayout, floors: F64Array, baseline: FeatureBaseline) -> Arrays:
    """What a feature-based detector learned, as the arrays its artifact stores."""
    return {**layout.to_arrays(), "floors": floors, **baseline.to_arrays("baseline_")}


def load_feature_arrays(
    arrays: Mapping[str, np.ndarray[Any, Any]],
) -> tuple[FeatureLayout, F64Array, FeatureBaseline]:
    """The layout, floors and baseline stored by `feature_arrays`."""
    floors = np.asarray(arrays["floors"], dtype=np.float64)
    return (
        FeatureLayout.from_arrays(arrays),
        floors,
        FeatureBaseline.from_arrays(arrays, "baseline_"),
    )


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
    >>> stream = RobustZScore(metrics=["temperature"]).fit(ts, values).stream(ts, values)
    >>> stream.update(2000 * 60_000, 25.1).score < 0.3
    True
    >>> stream.update(2001 * 60_000, 27.5).score > 0.7
    True
    >>> stream.explain().summary.startswith("temperature")
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
        return {"seed": self.seed, "metrics": list(self.metrics)}

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
        top = np.max(self.baseline_.surprises(self._scored(ts_ms, values)), axis=1, initial=0.0)
        return np.asarray(surprise_score(top), dtype=np.float64)

    def stream(self, ts_ms: I64Array, values: F64Array) -> RobustStream:
        """A stream primed with history."""
        features = FeatureStream(self._fitted(), self.floors_)
        features.prime(ts_ms, values)
        return RobustStream(self, features)

    def to_arrays(self) -> Arrays:
        """Layout, floors and baseline as numeric arrays."""
        return feature_arrays(self._fitted(), self.floors_, self.baseline_)

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> Self:
        """Rebuild a fitted detector from `to_arrays` output."""
        detector = cls(**{k: v for k, v in (params or {}).items() if k in ("seed", "metrics")})
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


class RobustStream:
    """Features of each reading against its recent past, scored by the largest surprise."""

    def __init__(self, detector: RobustZScore, features: FeatureStream) -> None:
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

    def explain(self) -> Explanation:
        """Which features of the last reading deviated most from their baseline."""
        d = self._detector
        return d.baseline_.explain(d.layout_, d.metrics, self._row)
