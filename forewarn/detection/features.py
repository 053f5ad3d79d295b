"""Features of a reading's recent past, as one declarative table (STYLE §3).

Each `FeatureSpec` says what to compute, over which horizon (a duration, turned into rows
from the median sampling interval seen at fit) and how to phrase it in an explanation.
`batch_features` computes the table with numpy for fitting; `feature_state` computes the
same numbers one reading at a time in O(1).
Baselines (rolling mean, std, range) use only readings before the current one.
Columns: each metric's own features, metric by metric, then the timestamp's features.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from forewarn.detection.base import F64Array, I64Array
from forewarn.errors import InvalidInputError

Kind = Literal[
    "value", "diff", "zscore", "range", "unchanged", "lag", "gap", "cycle_sin", "cycle_cos"
]
MINUTE_MS, HOUR_MS = 60_000, 3_600_000
DAY_MS, WEEK_MS = 24 * HOUR_MS, 7 * 24 * HOUR_MS
MIN_ROWS = 4  # shortest rolling window: fewer rows make a std meaningless
MAX_ROWS = 4_096  # longest window kept in the ring buffer
CYCLES_NEEDED = 3  # a periodic feature needs this many periods of training history
COVER_FACTOR = 2  # a windowed feature needs this many horizons of training history
_CYCLIC = ("lag", "cycle_sin", "cycle_cos")
WINDOWED = ("zscore", "range", "lag")  # kinds that need `horizon` readings of history


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: its name, how it is computed, over what horizon, how it is phrased.

    `phrase` format fields: metric, value, baseline, sigmas (robust), z (the value itself
    when it is a z-score), ratio (|value| / its usual magnitude), verb, side, horizon and
    intervals (for the gap: the time since the previous reading in sampling intervals).
    A spec with no phrase is context only (time of day): informative with other features,
    never a deviation by itself.
    """

    name: str
    kind: Kind
    horizon_ms: int = 0
    phrase: str = ""
    per_metric: bool = True  # False: a property of the timestamp


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("value", "value", 0,
                "{metric} {value:.4g} is {sigmas:.1f}σ {side} its usual level {baseline:.4g}"),
    FeatureSpec("rate", "diff", 0, "{metric} rate of change {ratio:.1f}× usual"),
    FeatureSpec("z_1h", "zscore", HOUR_MS, "{metric} {verb} {z:.1f}σ {side} its {horizon} mean"),
    FeatureSpec("z_1d", "zscore", DAY_MS, "{metric} {verb} {z:.1f}σ {side} its {horizon} mean"),
    FeatureSpec("range_1h", "range", HOUR_MS, "{metric} {horizon} range {ratio:.1f}× usual"),
    FeatureSpec("unchanged", "unchanged", 0,
                "{metric} unchanged for {value:.0f} readings (usually {baseline:.0f})"),
    FeatureSpec("vs_1d_ago", "lag", DAY_MS,
                "{metric} {sigmas:.1f}σ {side} its usual change from a day earlier"),
    FeatureSpec("vs_1w_ago", "lag", WEEK_MS,
                "{metric} {sigmas:.1f}σ {side} its usual change from a week earlier"),
    FeatureSpec("gap", "gap", 0, "no reading for {intervals:.0f} sampling intervals",
                per_metric=False),
    FeatureSpec("day_sin", "cycle_sin", DAY_MS, per_metric=False),
    FeatureSpec("day_cos", "cycle_cos", DAY_MS, per_metric=False),
    FeatureSpec("week_sin", "cycle_sin", WEEK_MS, per_metric=False),
    FeatureSpec("week_cos", "cycle_cos", WEEK_MS, per_metric=False),
)  # fmt: skip


def horizon_text(horizon_ms: int) -> str:
    """A duration as an explanation says it: '1-hour', '1-day', '90-minute'."""
    for unit_ms, unit in ((WEEK_MS, "week"), (DAY_MS, "day"), (HOUR_MS, "hour")):
        if horizon_ms % unit_ms == 0:
            return f"{horizon_ms // unit_ms}-{unit}"
    return f"{max(horizon_ms // MINUTE_MS, 1)}-minute"


def sampling_interval_ms(ts_ms: I64Array) -> int:
    """Median gap between readings (at least 1 ms), the unit horizons are counted in."""
    gaps = np.diff(np.asarray(ts_ms, dtype=np.int64))
    return max(int(np.median(gaps)), 1) if len(gaps) else MINUTE_MS


def horizon_rows(spec: FeatureSpec, interval_ms: int) -> int:
    """Rows a per-metric spec's horizon spans at this sampling interval (0: no horizon)."""
    if spec.horizon_ms == 0 or not spec.per_metric:
        return 0
    return window_rows(spec.horizon_ms, interval_ms)


def window_rows(horizon_ms: int, interval_ms: int) -> int:
    """Rows a rolling window of `horizon_ms` spans at this sampling interval."""
    return min(max(round(horizon_ms / interval_ms), MIN_ROWS), MAX_ROWS)


def covered_rows(horizon_ms: int, interval_ms: int, n_rows: int) -> int:
    """`window_rows`, or 0 when `n_rows` of training history do not cover the window
    `COVER_FACTOR` times (as `is_supported` asks of a windowed feature)."""
    rows = window_rows(horizon_ms, interval_ms)
    return rows if n_rows >= COVER_FACTOR * rows else 0


def is_supported(spec: FeatureSpec, interval_ms: int, n_rows: int) -> bool:
    """Whether sampling and training length support a spec.

    A windowed feature needs `COVER_FACTOR` horizons of history, so that its baseline is
    learned on full windows: at 1 Hz, 400 readings cannot teach a 1-hour mean. A periodic
    feature needs at least 24 readings per period and `CYCLES_NEEDED` periods of history:
    a model that saw one Monday would call every Tuesday new.
    """
    if spec.kind in WINDOWED and n_rows < COVER_FACTOR * horizon_rows(spec, interval_ms):
        return False
    if spec.kind not in _CYCLIC:
        return True
    per_cycle = spec.horizon_ms / interval_ms
    return 24 <= per_cycle <= MAX_ROWS and n_rows >= CYCLES_NEEDED * per_cycle


@dataclass(frozen=True)
class FeatureLayout:
    """The active specs, their horizons in rows and the sampling interval, fixed at fit."""

    specs: tuple[FeatureSpec, ...]
    interval_ms: int

    @classmethod
    def learn(cls, ts_ms: I64Array, table: tuple[FeatureSpec, ...] = FEATURES) -> FeatureLayout:
        """Keep the specs the training history supports."""
        interval = sampling_interval_ms(ts_ms)
        return cls(tuple(s for s in table if is_supported(s, interval, len(ts_ms))), interval)

    @classmethod
    def from_mask(cls, mask: Sequence[bool], interval_ms: int) -> FeatureLayout:
        """Rebuild a stored layout from its mask over `FEATURES`."""
        return cls(tuple(s for s, on in zip(FEATURES, mask, strict=True) if on), interval_ms)

    def mask(self) -> list[bool]:
        """Which entries of `FEATURES` are active, for storage."""
        return [s in self.specs for s in FEATURES]

    def to_arrays(self) -> dict[str, np.ndarray[Any, Any]]:
        """The layout as the numeric arrays a model artifact stores."""
        return {
            "feature_mask": np.array(self.mask(), dtype=np.int8),
            "interval_ms": np.array(self.interval_ms, dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray[Any, Any]]) -> FeatureLayout:
        """The layout stored by `to_arrays`."""
        mask = [bool(m) for m in arrays["feature_mask"].tolist()]
        return cls.from_mask(mask, int(arrays["interval_ms"]))

    @property
    def rows(self) -> tuple[int, ...]:
        """Each spec's horizon in rows."""
        return tuple(horizon_rows(s, self.interval_ms) for s in self.specs)

    @property
    def warmup_rows(self) -> int:
        """History a reading needs before all its baselines are full."""
        return max((*self.rows, MIN_ROWS))

    def left_out(self) -> tuple[FeatureSpec, ...]:
        """The specs of `FEATURES` this layout does without (too little training history,
        or a sampling interval that cannot carry them)."""
        return tuple(s for s in FEATURES if s not in self.specs)

    def columns(self, metrics: Sequence[object]) -> list[tuple[str, FeatureSpec]]:
        """(metric, spec) of every column; the metric is "" for timestamp features."""
        own = [(str(m), s) for m in metrics for s in self.specs if s.per_metric]
        return own + [("", s) for s in self.specs if not s.per_metric]


def _previous_windows(x: F64Array, h: int) -> tuple[F64Array, F64Array]:
    """Mean and std of the (up to) h readings before each row; row 0 gets x[0] and 0."""
    ref = x[0]
    c1 = np.concatenate(([0.0], np.cumsum(x - ref)))
    c2 = np.concatenate(([0.0], np.cumsum((x - ref) ** 2)))
    end = np.arange(len(x))
    start = np.maximum(end - h, 0)
    count = np.maximum(end - start, 1)
    mean = (c1[end] - c1[start]) / count
    var = np.maximum((c2[end] - c2[start]) / count - mean**2, 0.0)
    return np.where(end > 0, mean + ref, ref), np.sqrt(var)


def _column(spec: FeatureSpec, h: int, x: F64Array, floor: float) -> F64Array:
    """One per-metric feature over a whole series."""
    if spec.kind == "value":
        return x.copy()
    if spec.kind == "diff":
        return np.diff(x, prepend=x[0])
    if spec.kind == "zscore":
        mean, std = _previous_windows(x, h)
        return np.asarray((x - mean) / np.maximum(std, floor), dtype=np.float64)
    if spec.kind == "range":
        windows = sliding_window_view(np.concatenate((np.full(h - 1, x[0]), x)), h)
        return np.asarray(windows.max(axis=1) - windows.min(axis=1), dtype=np.float64)
    if spec.kind == "unchanged":
        last = np.zeros(len(x), dtype=np.int64)
        changed = np.flatnonzero(np.diff(x) != 0) + 1
        last[changed] = changed
        return (np.arange(len(x)) - np.maximum.accumulate(last)).astype(np.float64)
    lagged = np.concatenate((np.full(min(h, len(x)), x[0]), x[:-h]))  # "lag"
    return np.asarray(x - lagged, dtype=np.float64)


def _timestamp_column(spec: FeatureSpec, ts: I64Array, interval_ms: int) -> F64Array:
    """One timestamp feature over a whole series."""
    if spec.kind == "gap":
        gaps = np.diff(ts, prepend=ts[0]) / interval_ms
        return np.asarray(np.log2(np.maximum(gaps, 1.0)), dtype=np.float64)
    angle = 2 * np.pi * (ts % spec.horizon_ms) / spec.horizon_ms
    return np.asarray(np.sin(angle) if spec.kind == "cycle_sin" else np.cos(angle), np.float64)


def batch_features(
    layout: FeatureLayout, ts_ms: I64Array, values: F64Array, floors: F64Array
) -> F64Array:
    """Feature rows (n, n_columns) of a whole history; values shaped (n,) or (n, k)."""
    metrics, ts = as_columns(values), np.asarray(ts_ms, dtype=np.int64)
    if len(ts) == 0:
        return np.empty((0, len(layout.columns(range(metrics.shape[1])))))
    pairs = [(s, h) for s, h in zip(layout.specs, layout.rows, strict=True) if s.per_metric]
    columns = [
        _column(spec, h, metrics[:, j], float(floors[j]))
        for j in range(metrics.shape[1])
        for spec, h in pairs
    ]
    columns += [
        _timestamp_column(s, ts, layout.interval_ms) for s in layout.specs if not s.per_metric
    ]
    return np.column_stack(columns) if columns else np.empty((len(ts), 0))


def as_columns(values: F64Array) -> F64Array:
    """Readings as a float (n, k) array: one column per metric."""
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(-1, 1) if array.ndim == 1 else array.reshape(len(array), -1)


def checked_history(ts_ms: I64Array, values: F64Array) -> None:
    """Refuse a training history a model cannot learn from, naming the field."""
    columns = as_columns(values)
    if len(columns) != len(ts_ms) or len(columns) < 2:
        raise InvalidInputError(("values",), "need at least 2 readings, one per timestamp")
    if not np.isfinite(columns).all():
        raise InvalidInputError(("values",), "training readings must be finite numbers")


def std_floors(values: F64Array) -> F64Array:
    """Per metric, the smallest std a z-score divides by, so a flat window cannot explode.

    The larger of: the series' quantum (its smallest non-zero step, capped at the typical
    step when the series usually moves), 5 % of its typical step, and a relative epsilon
    of its level.
    """
    floors = []
    for x in as_columns(values).T:
        steps = np.abs(np.diff(x))
        typical = float(np.median(steps)) if len(steps) else 0.0
        moving = steps[steps > 0]
        quantum = float(moving.min()) if len(moving) else 0.0
        quantum = min(quantum, typical) if typical > 0 else quantum
        eps = 1e-9 * (1.0 + abs(float(np.median(x))))
        floors.append(max(quantum, 0.05 * typical, eps))
    return np.array(floors, dtype=np.float64)


def training_rows(layout: FeatureLayout, feature_rows: F64Array) -> F64Array:
    """Feature rows with full baselines: drop the warm-up, unless too little would be left."""
    skip = layout.warmup_rows
    return feature_rows[skip:] if len(feature_rows) >= 2 * skip else feature_rows


def scored_columns(layout: FeatureLayout, metrics: Sequence[str]) -> list[int]:
    """Indices of the columns that can deviate on their own (all but context features)."""
    return [j for j, (_, spec) in enumerate(layout.columns(metrics)) if spec.phrase]
