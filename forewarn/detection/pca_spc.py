"""Multivariate statistical process control of one device: PCA with Hotelling T² and Q (SPE).

The device's metrics are standardised on the training rows (mean and std, see `autoscale`)
and smoothed by an EWMA of `smoothing` readings, per metric, before anything else (a
multivariate EWMA, Lowry et al. 1992): a valve that takes a tenth off the flow is one
sigma of a raw reading's noise, but several of the smoothed one's. A PCA of the smoothed
training rows keeps the components that explain `explained_variance` of their variance (at
most k - 1, so a residual is always left). A reading gets two statistics: Hotelling's T² on
the kept components — how far the device is from its usual operating point along the
directions it normally moves — and Q, the squared prediction error left outside them — how
far the metrics move *unlike each other* compared with training. Each is divided by its
control limit (`spc_limits`); the score is ``r / (1 + r)`` of the larger ratio r, so 0.5 is
the limit. `release_` is the score at `release` times the limit, the level the event
tracker waits for the statistic to stay under before it closes an excursion; by default the
limit itself (leave-one-run-out on the pump rig chose no hysteresis, see docs/multisensor.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Self

import numpy as np

from forewarn.detection.base import Arrays, Explanation, F64Array, I64Array, Scored
from forewarn.detection.batch import BatchScores, BatchScoring
from forewarn.detection.features import as_columns, checked_history
from forewarn.detection.isolation_forest import NotFittedError
from forewarn.detection.params import get_params, known_params
from forewarn.detection.pca_explain import explanation
from forewarn.detection.pca_stats import (
    ReadingStats,
    autoscale,
    principal_axes,
    smoothed_rows,
    statistics,
)
from forewarn.detection.spc_limits import control_limits, smoothed_z
from forewarn.errors import InvalidInputError

THRESHOLD = 0.5  # r / (1 + r) at r = 1: a statistic exactly at its control limit
RELEASE = 1.0  # an excursion closes once the statistic is back under this share of its limit
_VECTORS = ("center", "scale", "eigenvalues", "loadings", "limits")


class PcaSpc:
    """PCA with Hotelling T² and Q (SPE) control limits over all metrics of one device.

    Parameters
    ----------
    explained_variance : float
        Share of the smoothed standardised variance the kept components explain (0 < x ≤ 1).
    quantile : float
        Quantile of the scaled χ² fitted to the held-out training statistics that sets
        each control limit.
    smoothing : int
        EWMA span in readings of the standardised metrics (1 = none); also the warm-up of
        a fresh state.
    limit_folds : int
        Contiguous training blocks, each scored by a model fitted on the others, for the
        limits (below 2, or too few rows per block: in-sample statistics).
    release : float
        Share of its control limit the statistic must stay under (for the event tracker's
        quiet readings) to close an excursion (0 < release <= 1).
    seed : int
        Unused (the method is deterministic); kept for the common detector signature.
    metrics : sequence of str
        Names of the metrics, one per column of the values.

    Examples
    --------
    >>> import numpy as np
    >>> from forewarn.detection.base import decide
    >>> rng = np.random.default_rng(0)
    >>> load = np.repeat(rng.uniform(0.5, 1.0, 20), 50)
    >>> values = np.column_stack([30 * load, 1 + 4 * load]) + rng.normal(0, 0.1, (1000, 2))
    >>> ts = np.arange(1000, dtype=np.int64) * 1000
    >>> model = PcaSpc(metrics=["flow", "pressure"]).fit(ts, values)
    >>> state = model.prime(ts, values)
    >>> decide(state.update(1_000_000, [27.0, 4.6]), model.threshold_)  # they agree
    False
    >>> for i in range(10):  # a partly closed valve: less flow at a higher pressure
    ...     scored = state.update(1_001_000 + 1000 * i, [21.0, 4.9])
    >>> decide(scored, model.threshold_)
    True
    >>> state.explain().metrics[0] in ("flow", "pressure")
    True

    It fails when the training rows do not cover the device's normal operating range or its
    slow wander (a new load, a warmer day, or a level that settles elsewhere after a fault
    moves T² and Q beyond limits), when a fault moves the metrics along the directions they
    normally move together and stays inside the training range, and with a single metric,
    where it is an EWMA chart on the z-score.
    """

    algorithm: ClassVar[str] = "pca_spc"
    threshold_: float
    center_: F64Array
    scale_: F64Array
    eigenvalues_: F64Array
    loadings_: F64Array  # (k, kept)
    limits_: F64Array  # T², Q
    release_: float  # the score at `release` times the limit

    def __init__(
        self,
        *,
        explained_variance: float = 0.99,
        quantile: float = 0.99999999,
        smoothing: int = 10,
        limit_folds: int = 5,
        release: float = RELEASE,
        seed: int = 0,
        metrics: Sequence[str] = ("value",),
    ) -> None:
        """Store the parameters; nothing is learned until fit."""
        self.explained_variance = explained_variance
        self.quantile = quantile
        self.smoothing = smoothing
        self.limit_folds = limit_folds
        self.release = release
        self.seed = seed
        self.metrics = tuple(metrics)

    def params(self) -> dict[str, Any]:
        """Constructor parameters, JSON-serialisable."""
        return get_params(self)

    @property
    def alpha(self) -> float:
        """The EWMA weight of the newest reading."""
        return 2.0 / (max(int(self.smoothing), 1) + 1.0)

    def fit(self, ts_ms: I64Array, values: F64Array) -> Self:
        """Learn the scale, the principal components and the two control limits."""
        checked_history(ts_ms, values)
        self._check_params()
        columns = as_columns(values)
        self.center_, self.scale_ = autoscale(columns)
        e = smoothed_z(columns, self.center_, self.scale_, self.alpha)
        self.eigenvalues_, self.loadings_ = principal_axes(e, self.explained_variance)
        kept, span = self.loadings_.shape[1], max(int(self.smoothing), 1)
        self.limits_ = control_limits(
            columns, self.explained_variance, kept, span, int(self.limit_folds), self.quantile
        )
        if columns.shape[1] == 1:
            self.limits_[1] = math.inf  # no residual space: Q is 0 and never alarms
        self._set_levels()
        return self

    def _set_levels(self) -> None:
        self.threshold_ = THRESHOLD
        self.release_ = float(self.release) / (1.0 + float(self.release))

    def _check_params(self) -> None:
        if not 0.0 < self.explained_variance <= 1.0:
            raise ValueError("explained_variance must be in (0, 1]")
        if not 0.5 <= self.quantile < 1.0:
            raise ValueError("quantile must be in [0.5, 1)")
        if int(self.smoothing) < 1:
            raise ValueError("smoothing must be at least 1 reading")
        if not 0.0 < self.release <= 1.0:
            raise ValueError("release must be in (0, 1]")

    def prime(self, ts_ms: I64Array, values: F64Array) -> PcaSpcState:
        """A state whose smoothed reading has run over the history (learned, not scored)."""
        state = PcaSpcState(self._fitted())
        if len(ts_ms):
            state.score_batch(np.asarray(ts_ms, dtype=np.int64), as_columns(values))
            state.forget_last()
        return state

    def to_arrays(self) -> Arrays:
        """Scale, components and limits as numeric arrays."""
        self._fitted()
        return {k: getattr(self, f"{k}_") for k in _VECTORS}

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> Self:
        """Rebuild a fitted detector from `to_arrays` output."""
        detector = cls(**known_params(cls, params))
        for k in _VECTORS:
            setattr(detector, f"{k}_", np.asarray(arrays[k], dtype=np.float64))
        detector._set_levels()
        return detector

    def _fitted(self) -> Self:
        if not hasattr(self, "loadings_"):
            raise NotFittedError("PcaSpc is warming up: call fit() first")
        return self


class PcaSpcState(BatchScoring):
    """The EWMA of the standardised readings, scored by its T² and Q over their limits."""

    def __init__(self, detector: PcaSpc) -> None:
        """Score with `detector`'s scale, components and limits."""
        self._detector = detector
        self._model = ReadingStats(detector.eigenvalues_, detector.loadings_, detector.limits_)
        self._center = detector.center_.tolist()
        self._scale = detector.scale_.tolist()
        self._limits = detector.limits_.tolist()
        self._alpha = detector.alpha
        self._warm_up = max(int(detector.smoothing), 1)
        self._smoothed: list[float] | None = None  # EWMA of the standardised metrics
        self._seen = 0
        self._last: list[float] = []  # the last reading, raw
        self._ratios = (0.0, 0.0)  # the last reading's T² and Q over their limits

    @property
    def width(self) -> int:
        """Values per reading."""
        return len(self._center)

    def forget_last(self) -> None:
        """Drop the last reading from what `explain` describes (priming is not scoring)."""
        self._last, self._ratios = [], (0.0, 0.0)

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Score a reading by the larger of its smoothed T² and Q over their limits."""
        values = self._checked(value)
        z = [(x - c) / s for x, c, s in zip(values, self._center, self._scale, strict=True)]
        a, e = self._alpha, self._smoothed
        e = z if e is None else [ej + a * (zj - ej) for ej, zj in zip(e, z, strict=True)]
        t2, q = self._model.t2_q(e)
        warming_up = self._seen < self._warm_up - 1
        self._smoothed, self._seen = e, min(self._seen + 1, self._warm_up)
        self._last, self._ratios = values, (t2 / self._limits[0], q / self._limits[1])
        r = max(self._ratios)
        return Scored(r / (1.0 + r), warming_up)

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
        ratios = np.column_stack([t2 / self._limits[0], q / self._limits[1]])
        top = ratios.max(axis=1)
        warming_up = np.arange(self._seen, self._seen + n) < self._warm_up - 1
        self._smoothed, self._seen = e[-1].tolist(), min(self._seen + n, self._warm_up)
        self._last, self._ratios = values[-1].tolist(), (float(ratios[-1, 0]), float(ratios[-1, 1]))
        explain = partial(self._explain_at, e, ratios)
        return BatchScores(top / (1.0 + top), warming_up, explain)

    def explain(self) -> Explanation:
        """Which metrics contribute most to the statistic furthest beyond its limit."""
        if not self._last or self._smoothed is None:
            return Explanation("no reading scored yet", (), self._detector.metrics)
        return self._explain(self._smoothed, self._ratios)

    def _explain_at(self, e: F64Array, ratios: F64Array, i: int) -> Explanation:
        return self._explain(e[i].tolist(), (float(ratios[i, 0]), float(ratios[i, 1])))

    def _explain(self, e: list[float], ratios: tuple[float, float]) -> Explanation:
        scaling = (self._center, self._scale)
        return explanation(self._model, self._detector.metrics, scaling, e, ratios)
