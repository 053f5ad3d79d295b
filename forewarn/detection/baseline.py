"""Each feature's median, robust scale and tail: how surprising a value is, and in what words.

`FeatureBaseline` learns, per feature column, a median, a MAD-based scale and how rare
large robust z-scores are. A reading's *surprise* on a feature is how many decades rarer
than in training its z is: piecewise linear through 1 decade at the 90th percentile of
training z, 2 at the 99th and 3 at the 99.9th (with enough rows), then onwards with the
slope of the last piece: an exponential tail fitted to each feature, heavy-tailed or not.
Every feature-based detector explains readings with it ("temperature rose 4.1σ above its
1-hour mean; rate of change 6× usual").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from forewarn.detection.base import Arrays, Deviation, Explanation, F64Array
from forewarn.detection.features import FeatureLayout, FeatureSpec, horizon_text, scored_columns
from forewarn.detection.pointwise import MAD_TO_SIGMA

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

    def largest_surprise(self, row: Sequence[float]) -> float:
        """The largest surprise over the scored columns of one row (streaming form)."""
        return max(map(_surprise, row, self._tail), default=0.0)

    def largest_surprises(self, columns: Sequence[F64Array], rows: int) -> F64Array:
        """The largest surprise of each row over the scored columns (batch form); a NaN
        feature (left out) counts as no surprise."""
        largest = np.zeros(rows)
        for x, tail in zip(columns, self._tail, strict=True):
            np.fmax(largest, _surprises(x, tail), out=largest)
        return largest

    def explain(
        self, layout: FeatureLayout, metrics: tuple[str, ...], row: Sequence[float]
    ) -> Explanation:
        """The most surprising features of a full feature row, phrased; metrics ranked."""
        if not row:
            return Explanation("no reading scored yet", (), metrics)
        columns = layout.columns(metrics)
        scored = list(enumerate(scored_columns(layout, metrics)))
        waiting = [j for _, j in scored if row[j] != row[j]]  # NaN: horizon not yet covered
        picked = [(k, j) for k, j in scored if row[j] == row[j]]
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
        summary += _left_out(layout, [columns[j][1] for j in waiting])
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


def _left_out(layout: FeatureLayout, waiting: list[FeatureSpec]) -> str:
    """What an explanation adds about windows left out: those the training history was too
    short for, and those the stream has not covered yet ("" when none)."""
    short = [s.name for s in layout.left_out() if s.kind in ("zscore", "range")]
    names = ", ".join(dict.fromkeys([*short, *(s.name for s in waiting)]))
    return f" ({names} left out: too little history yet)" if names else ""


def _surprise(value: float, tail: _Tail) -> float:
    """Decades of rarity of one feature value (see the module docstring); none when the
    value is NaN (a feature left out until its horizon is covered)."""
    if value != value:
        return 0.0
    center, scale, z90, z99, mid, top = tail
    z = abs(value - center) / scale
    if z > z99:
        return 2.0 + (z - z99) / top
    if z > z90:
        return 1.0 + (z - z90) / mid
    return z / z90 if z90 > 0 else 0.0


def _surprises(x: F64Array, tail: _Tail) -> F64Array:
    """`_surprise` of each value of one column, by the same operations."""
    center, scale, z90, z99, mid, top = tail
    z = np.abs(x - center) / scale
    out = z / z90 if z90 > 0 else np.zeros(len(z))
    far = np.flatnonzero((z > z90) | (z > z99))  # the few values beyond the first knot
    beyond = z[far]
    out[far] = np.where(beyond > z99, 2.0 + (beyond - z99) / top, 1.0 + (beyond - z90) / mid)
    return out


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
