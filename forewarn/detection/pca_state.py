"""The scoring state of `pca_spc`: the EWMA of the standardised readings, the last
`horizon` of them for the change statistic, and the score of each reading.

The score is ``r / (1 + r)`` of the largest of: T² and Q over `alarm` times their limits
(the level), and the change statistic over its limit when beyond it (`beyond_limit`). A
reading opens an excursion at r > 1; it is calm once the level is back under `release`
times its limits and the change under its limit.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from forewarn.detection.base import Explanation, F64Array, I64Array, Scored
from forewarn.detection.batch import BatchScores, BatchScoring
from forewarn.detection.pca_change import beyond_limit
from forewarn.detection.pca_explain import change_explanation, explanation
from forewarn.detection.pca_stats import ReadingStats, lagged, smoothed_rows, statistics
from forewarn.errors import InvalidInputError

if TYPE_CHECKING:
    from forewarn.detection.pca_spc import PcaSpc

Ratios = tuple[float, float, float]  # T², Q and the change statistic over their limits


class PcaSpcState(BatchScoring):
    """The EWMA of the standardised readings, scored by its T², Q and change over limits."""

    def __init__(self, detector: PcaSpc) -> None:
        """Score with `detector`'s scale, components and limits."""
        d = self._detector = detector
        self._model = ReadingStats(d.eigenvalues_, d.loadings_, d.limits_)
        self._change = ReadingStats(d.change_eigenvalues_, d.change_loadings_, d.change_limits_)
        self._center, self._scale = d.center_.tolist(), d.scale_.tolist()
        self._limits, self._change_limits = d.limits_.tolist(), d.change_limits_.tolist()
        self._alpha, self._alarm = d.alpha, float(d.alarm)
        self._horizon = max(int(d.horizon), 0)
        self._warm_up = max(int(d.smoothing), 1)
        self._smoothed: list[float] | None = None  # EWMA of the standardised metrics
        self._recent: deque[list[float]] = deque(maxlen=max(self._horizon, 1))
        self._levels: deque[float] = deque(maxlen=max(self._horizon, 1))  # their T², Q ratio
        self._seen = 0
        self._last: list[float] = []  # the last reading, raw
        self._lag: list[float] = []  # the smoothed reading `horizon` readings before it
        self._ratios: Ratios = (0.0, 0.0, 0.0)

    @property
    def width(self) -> int:
        """Values per reading."""
        return len(self._center)

    def forget_last(self) -> None:
        """Drop the last reading from what `explain` describes (priming is not scoring)."""
        self._last, self._ratios = [], (0.0, 0.0, 0.0)

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Score a reading by its smoothed T², Q and change over their limits."""
        values = self._checked(value)
        z = [(x - c) / s for x, c, s in zip(values, self._center, self._scale, strict=True)]
        a, e = self._alpha, self._smoothed
        e = z if e is None else [ej + a * (zj - ej) for ej, zj in zip(e, z, strict=True)]
        t2, q = self._model.t2_q(e)
        change = self._change_ratio(e, max(t2 / self._limits[0], q / self._limits[1]))
        warming_up = self._seen < self._warm_up - 1
        self._smoothed, self._seen = e, min(self._seen + 1, self._warm_up)
        self._last, self._ratios = values, (t2 / self._limits[0], q / self._limits[1], change)
        r = max(max(self._ratios[0], self._ratios[1]) / self._alarm, beyond_limit(change))
        return Scored(r / (1.0 + r), warming_up)

    def _change_ratio(self, e: list[float], level: float) -> float:
        """The change over its limit, if the reading moved away from the usual operating
        point (its level is above the earlier one's); a return is no fault's start."""
        if not self._horizon:
            return 0.0
        self._lag = self._recent[0] if self._recent else e
        away = level > (self._levels[0] if self._levels else level)
        self._recent.append(e)
        self._levels.append(level)
        d = [ej - lj for ej, lj in zip(e, self._lag, strict=True)]
        t2, q = self._change.t2_q(d)
        return float(max(t2 / self._change_limits[0], q / self._change_limits[1])) if away else 0.0

    def _checked(self, value: float | Sequence[float]) -> list[float]:
        values = [float(value)] if isinstance(value, float | int) else [float(v) for v in value]
        if len(values) != self.width:
            raise InvalidInputError(("value",), f"expected {self.width} values per reading")
        if not all(map(math.isfinite, values)):
            raise InvalidInputError(("value",), "readings must be finite numbers")
        return values

    def score_batch(self, ts_ms: I64Array, values: F64Array) -> BatchScores:
        """As `update` on each reading in turn: the same arithmetic in numpy, same order."""
        d, n = self._detector, len(values)
        z = (values - d.center_) / d.scale_
        start = None if self._smoothed is None else np.array(self._smoothed)
        e = smoothed_rows(z, self._alpha, start)
        t2, q = statistics(e, d.eigenvalues_, d.loadings_)
        levels = np.column_stack([t2 / self._limits[0], q / self._limits[1]])
        diffs, change = self._change_batch(e, levels.max(axis=1))
        ratios = np.column_stack([levels, change])
        top = np.maximum(
            ratios[:, :2].max(axis=1) / self._alarm, np.where(change > 1.0, change, 0.0)
        )
        warming_up = np.arange(self._seen, self._seen + n) < self._warm_up - 1
        self._smoothed, self._seen = e[-1].tolist(), min(self._seen + n, self._warm_up)
        self._last = values[-1].tolist()
        self._ratios = (float(ratios[-1, 0]), float(ratios[-1, 1]), float(ratios[-1, 2]))
        explain = partial(self._explain_at, e, diffs, ratios)
        return BatchScores(top / (1.0 + top), warming_up, explain)

    def _change_batch(self, e: F64Array, levels: F64Array) -> tuple[F64Array, F64Array]:
        """As `_change_ratio` on each row in turn."""
        if not self._horizon or not len(e):
            return np.zeros_like(e), np.zeros(len(e))
        lags = lagged(e, self._horizon, list(self._recent))
        earlier = lagged(levels[:, None], self._horizon, [[x] for x in self._levels])[:, 0]
        diffs, h = e - lags, self._horizon
        self._lag = lags[-1].tolist()
        self._recent.extend(e[-h:].tolist())
        self._levels.extend(levels[-h:].tolist())
        d = self._detector
        t2, q = statistics(diffs, d.change_eigenvalues_, d.change_loadings_)
        change = np.maximum(t2 / self._change_limits[0], q / self._change_limits[1])
        return diffs, np.where(levels > earlier, change, 0.0)

    def explain(self) -> Explanation:
        """Which metrics contribute most to the statistic furthest beyond its limit."""
        if not self._last or self._smoothed is None:
            return Explanation("no reading scored yet", (), self._detector.metrics)
        lag = self._lag or self._smoothed
        diff = [ej - lj for ej, lj in zip(self._smoothed, lag, strict=True)]
        return self._explain(self._smoothed, diff, self._ratios)

    def _explain_at(self, e: F64Array, diffs: F64Array, ratios: F64Array, i: int) -> Explanation:
        r = (float(ratios[i, 0]), float(ratios[i, 1]), float(ratios[i, 2]))
        return self._explain(e[i].tolist(), diffs[i].tolist(), r)

    def _explain(self, e: list[float], diff: list[float], ratios: Ratios) -> Explanation:
        scaling, metrics = (self._center, self._scale), self._detector.metrics
        if beyond_limit(ratios[2]) > max(ratios[0], ratios[1]) / self._alarm:
            return change_explanation(self._change, metrics, scaling, (e, diff), ratios[2])
        return explanation(self._model, metrics, scaling, e, (ratios[0], ratios[1]))
