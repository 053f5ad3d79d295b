"""Multivariate statistical process control of one device: PCA with Hotelling T² and Q (SPE).

The device's metrics are standardised on the training rows (mean and std, see `autoscale`),
and a PCA keeps the components that explain
`explained_variance` of the standardised variance (at most k - 1, so a residual is always
left). A reading gets two statistics: Hotelling's T² on the kept components — how far the
device is from its usual operating point along the directions it normally moves — and Q, the
squared prediction error left outside them — how far the metrics move *unlike each other*
compared with training. Both are smoothed by an EWMA of `smoothing` readings and divided by
their control limits; the score is ``r / (1 + r)`` of the larger ratio r, so 0.5 is the limit.

Control limits are the `quantile` of the smoothed statistics on the training rows, each
scored by a model fitted without the contiguous block it sits in (`limit_folds` blocks):
in-sample Q underestimates how a model does on new rows, and held-out blocks also carry the
slow wander inside the training window. Empirical limits need no normality (the F and
Jackson-Mudholkar limits assume Gaussian, independent rows; sensor rows are neither).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Self

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
from forewarn.detection.features import as_columns, checked_history, std_floors
from forewarn.detection.isolation_forest import NotFittedError
from forewarn.detection.params import get_params, known_params
from forewarn.errors import InvalidInputError

THRESHOLD = 0.5  # r / (1 + r) at r = 1: a statistic exactly at its control limit
LIMIT_FLOOR = 1e-9  # a statistic that never moved in training still needs a finite limit
MIN_FOLD_ROWS = 20  # fewer rows per held-out block: limits from the in-sample statistics
_VECTORS = ("center", "scale", "eigenvalues", "loadings", "limits")


def autoscale(columns: F64Array) -> tuple[F64Array, F64Array]:
    """Per metric, the mean and std (floored by the sensor's quantum, so a flat one is safe).

    Not the median and MAD: a device's metrics are multimodal (one mode per load level), and
    the MAD of such a metric is its noise within the commonest mode, so it changes tenfold
    with the mix of modes in a window.
    """
    return columns.mean(axis=0), np.maximum(columns.std(axis=0), std_floors(columns))


def principal_axes(z: F64Array, share: float, kept: int | None = None) -> tuple[F64Array, F64Array]:
    """Variances and loadings (k, a) of the components explaining `share` of the variance
    (at most k - 1 of them, so a residual is left), or of the first `kept`."""
    k = z.shape[1]
    eigenvalues, vectors = np.linalg.eigh(z.T @ z / max(len(z) - 1, 1))
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, vectors = np.maximum(eigenvalues[order], LIMIT_FLOOR), vectors[:, order]
    if kept is None:
        explained = np.cumsum(eigenvalues) / eigenvalues.sum()
        kept = min(int(np.searchsorted(explained, share)) + 1, max(k - 1, 1))
    return eigenvalues[:kept], vectors[:, :kept]


def statistics(z: F64Array, eigenvalues: F64Array, loadings: F64Array) -> tuple[F64Array, F64Array]:
    """T² and Q of standardised rows, in the fixed order `ReadingStats` uses one at a time."""
    k, kept = loadings.shape
    t2, q = np.zeros(len(z)), np.zeros(len(z))
    scores = []
    for i in range(kept):
        t = np.zeros(len(z))
        for j in range(k):
            t = t + z[:, j] * loadings[j, i]
        scores.append(t)
        t2 = t2 + t * t / eigenvalues[i]
    for j in range(k):
        fitted = np.zeros(len(z))
        for i in range(kept):
            fitted = fitted + scores[i] * loadings[j, i]
        r = z[:, j] - fitted
        q = q + r * r
    return t2, q if k > 1 else np.zeros(len(z))


def smoothed(x: list[float], alpha: float, start: float | None = None) -> list[float]:
    """EWMA of `x` (from its first value, or from `start`), as the state advances it."""
    out, e = [], start
    for v in x:
        e = v if e is None else e + alpha * (v - e)
        out.append(e)
    return out


class PcaSpc:
    """PCA with Hotelling T² and Q (SPE) control limits over all metrics of one device.

    Parameters
    ----------
    explained_variance : float
        Share of the standardised variance the kept components explain (0 < x ≤ 1).
    quantile : float
        Quantile of the smoothed training statistics that sets each control limit.
    smoothing : int
        EWMA span in readings of T² and Q (1 = none); also the warm-up of a fresh state.
    limit_folds : int
        Contiguous training blocks, each scored by a model fitted on the others, for the
        limits (below 2, or too few rows per block: in-sample statistics).
    seed : int
        Unused (the method is deterministic); kept for the common detector signature.
    metrics : sequence of str
        Names of the metrics, one per column of the values.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> load = np.repeat(rng.uniform(0.5, 1.0, 20), 50)
    >>> values = np.column_stack([30 * load, 1 + 4 * load]) + rng.normal(0, 0.1, (1000, 2))
    >>> ts = np.arange(1000, dtype=np.int64) * 1000
    >>> state = PcaSpc(metrics=["flow", "pressure"]).fit(ts, values).prime(ts, values)
    >>> state.update(1_000_000, [27.0, 4.6]).is_anomaly  # flow and pressure agree
    False
    >>> for i in range(5):  # a partly closed valve: less flow at a higher pressure
    ...     scored = state.update(1_001_000 + 1000 * i, [21.0, 4.9])
    >>> scored.is_anomaly, scored.score > 0.5
    (True, True)
    >>> state.explain().metrics[0] in ("flow", "pressure")
    True

    It fails when the training rows do not cover the device's normal operating range or its
    slow wander (a new load or a warmer day moves T² and Q beyond limits), when a fault moves
    the metrics along the directions they normally move together and stays inside the
    training range, and with a single metric, where it is a Shewhart chart on the z-score.
    """

    algorithm: ClassVar[str] = "pca_spc"
    threshold_: float
    center_: F64Array
    scale_: F64Array
    eigenvalues_: F64Array
    loadings_: F64Array  # (k, kept)
    limits_: F64Array  # T², Q

    def __init__(
        self,
        *,
        explained_variance: float = 0.99,
        quantile: float = 0.99,
        smoothing: int = 5,
        limit_folds: int = 5,
        seed: int = 0,
        metrics: Sequence[str] = ("value",),
    ) -> None:
        """Store the parameters; nothing is learned until fit."""
        self.explained_variance = explained_variance
        self.quantile = quantile
        self.smoothing = smoothing
        self.limit_folds = limit_folds
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
        z = (columns - self.center_) / self.scale_
        self.eigenvalues_, self.loadings_ = principal_axes(z, self.explained_variance)
        t2, q = self._held_out_statistics(columns)
        limits = [np.quantile(smoothed(x.tolist(), self.alpha), self.quantile) for x in (t2, q)]
        self.limits_ = np.maximum(np.array(limits, dtype=np.float64), LIMIT_FLOOR)
        if columns.shape[1] == 1:
            self.limits_[1] = math.inf  # no residual space: Q is 0 and never alarms
        self.threshold_ = THRESHOLD
        return self

    def _check_params(self) -> None:
        if not 0.0 < self.explained_variance <= 1.0:
            raise ValueError("explained_variance must be in (0, 1]")
        if not 0.5 <= self.quantile < 1.0:
            raise ValueError("quantile must be in [0.5, 1)")
        if int(self.smoothing) < 1:
            raise ValueError("smoothing must be at least 1 reading")

    def _held_out_statistics(self, columns: F64Array) -> tuple[F64Array, F64Array]:
        """T² and Q of each training row by a model that did not see its block (in order)."""
        folds = int(self.limit_folds)
        if folds < 2 or len(columns) < folds * MIN_FOLD_ROWS:
            z = (columns - self.center_) / self.scale_
            return statistics(z, self.eigenvalues_, self.loadings_)
        kept = self.loadings_.shape[1]
        parts: list[tuple[F64Array, F64Array]] = []
        for block in np.array_split(np.arange(len(columns)), folds):
            rest = np.delete(columns, block, axis=0)
            center, scale = autoscale(rest)
            axes = principal_axes((rest - center) / scale, self.explained_variance, kept)
            parts.append(statistics((columns[block] - center) / scale, *axes))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def prime(self, ts_ms: I64Array, values: F64Array) -> PcaSpcState:
        """A state whose smoothed statistics have run over the history (learned, not scored)."""
        state = PcaSpcState(self._fitted())
        if len(ts_ms):
            columns = as_columns(values)
            t2, q = statistics((columns - self.center_) / self.scale_, *self._axes())
            state.advance(t2.tolist(), q.tolist())
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
        detector.threshold_ = THRESHOLD
        return detector

    def _axes(self) -> tuple[F64Array, F64Array]:
        return self.eigenvalues_, self.loadings_

    def _fitted(self) -> Self:
        if not hasattr(self, "loadings_"):
            raise NotFittedError("PcaSpc is warming up: call fit() first")
        return self


class ReadingStats:
    """T², Q and per-metric contributions of one reading, in plain floats (k × k at most)."""

    def __init__(self, detector: PcaSpc) -> None:
        """Keep the model as lists: per-reading arithmetic on floats beats tiny numpy calls."""
        self.center = detector.center_.tolist()
        self.scale = detector.scale_.tolist()
        self.eigenvalues = detector.eigenvalues_.tolist()
        self.loadings = detector.loadings_.tolist()
        self.limits = detector.limits_.tolist()

    def standardised(self, values: list[float]) -> list[float]:
        """The reading in training units."""
        return [(x - c) / s for x, c, s in zip(values, self.center, self.scale, strict=True)]

    def components(self, z: list[float]) -> list[float]:
        """Scores on the kept components."""
        out = []
        for i in range(len(self.eigenvalues)):
            t = 0.0
            for j, row in enumerate(self.loadings):
                t = t + z[j] * row[i]
            out.append(t)
        return out

    def residuals(self, z: list[float], t: list[float]) -> list[float]:
        """Each metric's part that the kept components do not explain."""
        out = []
        for j, row in enumerate(self.loadings):
            fitted = 0.0
            for i, ti in enumerate(t):
                fitted = fitted + ti * row[i]
            out.append(z[j] - fitted)
        return out

    def t2_q(self, values: list[float]) -> tuple[float, float]:
        """Hotelling T² and Q of a reading (as `statistics` computes them in a batch)."""
        z = self.standardised(values)
        t = self.components(z)
        t2 = 0.0
        for ti, w in zip(t, self.eigenvalues, strict=True):
            t2 = t2 + ti * ti / w
        q = 0.0
        for r in self.residuals(z, t):
            q = q + r * r
        return t2, (q if len(z) > 1 else 0.0)

    def contributions(self, values: list[float]) -> list[float]:
        """Per metric, how much the combined index T²/limit + Q/limit would drop if that
        metric alone were reconstructed from the others (reconstruction-based contribution,
        Alcala & Qin 2009, of Yue & Qin's combined index).

        Raw contributions smear one faulty metric's deviation onto the metrics it shares a
        low-variance component with, and Q alone cannot tell metrics apart when the residual
        space has one dimension; the combined index can.
        """
        z = self.standardised(values)
        t = self.components(z)
        lt, lq = self.limits
        weights = [ti / w for ti, w in zip(t, self.eigenvalues, strict=True)]
        out = []
        for row, r in zip(self.loadings, self.residuals(z, t), strict=True):
            pulled = sum(w * p for w, p in zip(weights, row, strict=True)) / lt + r / lq
            in_model = sum(p * p / w for p, w in zip(row, self.eigenvalues, strict=True))
            diagonal = in_model / lt + (1.0 - sum(p * p for p in row)) / lq
            out.append(pulled * pulled / diagonal if diagonal > 0 else 0.0)
        return out


class PcaSpcState(BatchScoring):
    """Smoothed T² and Q of each reading against the control limits."""

    def __init__(self, detector: PcaSpc) -> None:
        """Score with `detector`'s components and limits."""
        self._detector = detector
        self._model = ReadingStats(detector)
        self._limits = detector.limits_.tolist()
        self._alpha = detector.alpha
        self._warm_up = max(int(detector.smoothing), 1)
        self._smoothed: list[float] | None = None  # EWMA of T², Q
        self._seen = 0
        self._last: list[float] = []
        self._ratios = (0.0, 0.0)  # the last reading's smoothed T² and Q over their limits

    @property
    def width(self) -> int:
        """Values per reading."""
        return len(self._model.center)

    def advance(self, t2: list[float], q: list[float]) -> list[tuple[float, float]]:
        """Smooth the statistics of readings in turn; each reading's two limit ratios."""
        if not t2:
            return []
        a, (lt, lq), ratios = self._alpha, self._limits, []
        et, eq = self._smoothed if self._smoothed is not None else (t2[0], q[0])
        for x, y in zip(t2, q, strict=True):
            et, eq = et + a * (x - et), eq + a * (y - eq)
            ratios.append((et / lt, eq / lq))
        self._smoothed = [et, eq]
        self._seen = min(self._seen + len(t2), self._warm_up)
        return ratios

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Score a reading by the larger of its smoothed T² and Q over their limits."""
        values = self._checked(value)
        t2, q = self._model.t2_q(values)
        warming_up = self._seen < self._warm_up - 1
        (ratios,) = self.advance([t2], [q])
        self._last = values
        self._ratios = ratios
        r = max(ratios)
        return Scored(r / (1.0 + r), warming_up, not warming_up and r > 1.0)

    def _checked(self, value: float | Sequence[float]) -> list[float]:
        values = [float(value)] if isinstance(value, float | int) else [float(v) for v in value]
        if len(values) != self.width:
            raise InvalidInputError(("value",), f"expected {self.width} values per reading")
        if not all(map(math.isfinite, values)):
            raise InvalidInputError(("value",), "readings must be finite numbers")
        return values

    def score_batch(self, ts_ms: I64Array, values: F64Array) -> BatchScores:
        """As `update` on each reading in turn: the statistics in numpy, in the same order."""
        d = self._detector
        t2, q = statistics((values - d.center_) / d.scale_, *d._axes())
        seen = self._seen
        ratios = self.advance(t2.tolist(), q.tolist())
        warming_up = np.arange(seen, seen + len(ratios)) < self._warm_up - 1
        top = np.array([max(r) for r in ratios], dtype=np.float64)
        self._last, self._ratios = values[-1].tolist(), ratios[-1]
        explain = partial(self._explain_at, values, ratios)
        return BatchScores(top / (1.0 + top), warming_up, explain, ~warming_up & (top > 1.0))

    def explain(self) -> Explanation:
        """Which metrics contribute most to the statistic furthest beyond its limit."""
        if not self._last:
            return Explanation("no reading scored yet", (), self._detector.metrics)
        return self._explain(self._last, self._ratios)

    def _explain_at(
        self, values: F64Array, ratios: list[tuple[float, float]], i: int
    ) -> Explanation:
        return self._explain(values[i].tolist(), ratios[i])

    def _explain(self, values: list[float], ratios: tuple[float, float]) -> Explanation:
        metrics, model = self._detector.metrics, self._model
        of_q = ratios[1] > ratios[0]
        share = model.contributions(values)
        ranked = sorted(range(len(share)), key=lambda j: -share[j])
        named = [metrics[j] for j in ranked[:3] if share[j] >= 0.5 * share[ranked[0]] > 0]
        named = named or [metrics[ranked[0]]]
        z = model.standardised(values)
        fitted = [zj - r for zj, r in zip(z, model.residuals(z, model.components(z)), strict=True)]
        deviations = tuple(
            Deviation("residual" if of_q else "level", x, c + s * (f if of_q else 0.0), s, m)
            for m, x, c, s, f in zip(
                metrics, values, model.center, model.scale, fitted, strict=True
            )
        )
        who = " and ".join(named)
        if of_q and len(metrics) > 1:
            what = f"{who} move{'s' if len(named) == 1 else ''} unlike in training"
            summary = f"{what} (Q {ratios[1]:.1f}× its limit)"
        else:
            verb = "is" if len(named) == 1 else "are"
            summary = (
                f"{who} {verb} far from the usual operating point (T² {ratios[0]:.1f}× its limit)"
            )
        return Explanation(summary, deviations, tuple(metrics[j] for j in ranked))
