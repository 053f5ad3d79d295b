"""The arithmetic of PCA process control: scaling, principal axes, T², Q and their limits.

Shared by the fit (`spc_limits`) and the scoring state (`pca_spc`). The batch functions run
in numpy and the one-reading ones (`ReadingStats`) in plain floats, with every sum taken in
the same order, so a batch gives the same bits as one reading after another.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from forewarn.detection.base import F64Array
from forewarn.detection.features import std_floors

LIMIT_FLOOR = 1e-9  # a statistic that never moved in training still needs a finite limit


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


def smoothed_rows(z: F64Array, alpha: float, start: F64Array | None = None) -> F64Array:
    """The EWMA of each column of `z` (from its first row, or from `start`), with the
    scoring state's float arithmetic, so the bits agree (a Python loop per column: numpy
    calls on one row of a few metrics cost more than the arithmetic)."""
    out = np.empty_like(z)
    if not len(z):
        return out
    for j in range(z.shape[1]):
        column = z[:, j].tolist()
        e = column[0] if start is None else float(start[j])
        smoothed = []
        for x in column:
            e = e + alpha * (x - e)
            smoothed.append(e)
        out[:, j] = smoothed
    return out


def lagged(e: F64Array, horizon: int, history: Sequence[Sequence[float]]) -> F64Array:
    """For each smoothed row, the one `horizon` rows before it in the stream that `history`
    (the last rows before `e`, oldest first) continues; the stream's first row stands in
    for rows before it (so the first difference is zero)."""
    full = np.vstack([np.array(history, dtype=np.float64).reshape(-1, e.shape[1]), e])
    at = np.arange(len(history), len(full)) - horizon
    return full[np.maximum(at, 0)]


def differences(e: F64Array, horizon: int, history: Sequence[Sequence[float]]) -> F64Array:
    """Each smoothed row minus the one `horizon` rows before it (see `lagged`)."""
    return e - lagged(e, horizon, history)


def scaled_chi2_limit(x: F64Array, quantile: float) -> float:
    """The `quantile` of g·χ²(h) with the mean and variance of `x` (Box 1954), by the
    Wilson-Hilferty approximation of the χ² quantile.

    Rows of a smoothed statistic are strongly autocorrelated: a few hundred of them hold a
    few dozen independent values, too few for an empirical 99.99 % quantile, so the tail is
    extrapolated from the first two moments, as Nomikos and MacGregor do for Q.
    """
    mean, var = float(np.mean(x)), float(np.var(x))
    if not mean > 0 or not var > 0:
        return max(mean, LIMIT_FLOOR)
    g, h = var / (2.0 * mean), 2.0 * mean * mean / var
    z = NormalDist().inv_cdf(quantile)
    cube = max(1.0 - 2.0 / (9.0 * h) + z * math.sqrt(2.0 / (9.0 * h)), 0.0) ** 3
    return max(g * h * cube, LIMIT_FLOOR)


class ReadingStats:
    """T², Q and per-metric contributions of one smoothed reading, in plain floats."""

    def __init__(
        self,
        eigenvalues: F64Array,
        loadings: F64Array,
        limits: F64Array,
    ) -> None:
        """Keep the model as lists: per-reading arithmetic on floats beats tiny numpy calls."""
        self.eigenvalues = eigenvalues.tolist()
        self.loadings = loadings.tolist()
        self.limits = limits.tolist()

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

    def t2_q(self, z: list[float]) -> tuple[float, float]:
        """Hotelling T² and Q of a standardised reading (as `statistics` in a batch)."""
        t = self.components(z)
        t2 = 0.0
        for ti, w in zip(t, self.eigenvalues, strict=True):
            t2 = t2 + ti * ti / w
        q = 0.0
        for r in self.residuals(z, t):
            q = q + r * r
        return t2, (q if len(z) > 1 else 0.0)

    def contributions(self, z: list[float]) -> list[float]:
        """Per metric, how much the combined index T²/limit + Q/limit would drop if that
        metric alone were reconstructed from the others (reconstruction-based contribution,
        Alcala & Qin 2009, of Yue & Qin's combined index).

        Raw contributions smear one faulty metric's deviation onto the metrics it shares a
        low-variance component with, and Q alone cannot tell metrics apart when the residual
        space has one dimension; the combined index can.
        """
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
