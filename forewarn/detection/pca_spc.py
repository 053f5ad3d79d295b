"""Multivariate statistical process control of one device: PCA with Hotelling T² and Q (SPE).

The device's metrics are standardised on the training rows (mean and std, see `autoscale`)
and smoothed by an EWMA of `smoothing` readings, per metric, before anything else (a
multivariate EWMA, Lowry et al. 1992): a valve that takes a tenth off the flow is one
sigma of a raw reading's noise, but several of the smoothed one's. A PCA of the smoothed
training rows keeps the components that explain `explained_variance` of their variance (at
most k - 1, so a residual is always left). A reading gets two statistics: Hotelling's T² on
the kept components — how far the device is from its usual operating point along the
directions it normally moves — and Q, the squared prediction error left outside them — how
far the metrics move *unlike each other* compared with training; each has a control limit
(`spc_limits`). A third statistic, the change (`pca_change`), is T² and Q of the smoothed
reading's difference over the last `horizon` readings, on the axes of such differences in
training: a fault that starts at once moves the metrics within a few readings, a slow
wander the training rows did not show does not.

A reading opens an excursion when T² or Q passes `alarm` times its limit, or when the
change passes its limit while moving away from the usual operating point; it stays open
until T² and Q are back under `release` times their limits (and the change under its own).
The score is ``r / (1 + r)`` of the largest of T²/(alarm·limit), Q/(alarm·limit) and the
change over its limit when beyond it, so the threshold is 0.5; `release_` is the score at
T² or Q at `release` times the limit. The three levels were chosen by leave-one-run-out on
the pump rig with the simulated rig in the criterion (docs/multisensor.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np

from forewarn.detection.base import Arrays, F64Array, I64Array
from forewarn.detection.features import as_columns, checked_history
from forewarn.detection.isolation_forest import NotFittedError
from forewarn.detection.params import get_params, known_params
from forewarn.detection.pca_change import change_model
from forewarn.detection.pca_state import PcaSpcState
from forewarn.detection.pca_stats import autoscale, principal_axes
from forewarn.detection.spc_limits import control_limits, smoothed_z

THRESHOLD = 0.5  # r / (1 + r) at r = 1: T² or Q at `alarm` times its limit, or the change at its
ALARM = 2.0  # an excursion opens once T² or Q is beyond this multiple of its limit ...
HORIZON = 10  # ... or the change over this many readings is beyond its own limit
RELEASE = 0.8  # it closes once T² and Q are back under this share of their limits
_VECTORS = ("center", "scale", "eigenvalues", "loadings", "limits")
_CHANGE = ("change_eigenvalues", "change_loadings", "change_limits")


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
    alarm : float
        Multiple of its control limit at which T² or Q opens an excursion (the action line).
    horizon : int
        Readings over which the change statistic differences the smoothed reading
        (0 = no change statistic).
    release : float
        Share of its control limit T² and Q must stay under (for the event tracker's quiet
        readings) to close an excursion (0 < release <= alarm).
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
    moves T² and Q beyond limits), when a fault builds up too slowly for the change statistic
    and stays under the alarm line (it is then missed or flagged late), when a fault moves the
    metrics along the directions they normally move together and stays inside the training
    range, and with a single metric, where it is an EWMA chart on the z-score.
    """

    algorithm: ClassVar[str] = "pca_spc"
    threshold_: float
    center_: F64Array
    scale_: F64Array
    eigenvalues_: F64Array
    loadings_: F64Array  # (k, kept)
    limits_: F64Array  # T², Q
    change_eigenvalues_: F64Array  # the change statistic's axes and limits (T², Q)
    change_loadings_: F64Array
    change_limits_: F64Array
    release_: float  # the score at T² or Q at `release` times their limits

    def __init__(
        self,
        *,
        explained_variance: float = 0.99,
        quantile: float = 0.9999999,
        smoothing: int = 10,
        limit_folds: int = 5,
        alarm: float = ALARM,
        horizon: int = HORIZON,
        release: float = RELEASE,
        seed: int = 0,
        metrics: Sequence[str] = ("value",),
    ) -> None:
        """Store the parameters; nothing is learned until fit."""
        self.explained_variance = explained_variance
        self.quantile = quantile
        self.smoothing = smoothing
        self.limit_folds = limit_folds
        self.alarm = alarm
        self.horizon = horizon
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
        horizon = max(int(self.horizon), 1)
        limits = (span, int(self.limit_folds), self.quantile)
        model = change_model(columns, e, horizon, self.explained_variance, limits)
        self.change_eigenvalues_, self.change_loadings_, self.change_limits_ = model
        self._set_levels()
        return self

    def _set_levels(self) -> None:
        self.threshold_ = THRESHOLD
        share = float(self.release) / float(self.alarm)
        self.release_ = share / (1.0 + share)

    def _check_params(self) -> None:
        if not 0.0 < self.explained_variance <= 1.0:
            raise ValueError("explained_variance must be in (0, 1]")
        if not 0.5 <= self.quantile < 1.0:
            raise ValueError("quantile must be in [0.5, 1)")
        if int(self.smoothing) < 1:
            raise ValueError("smoothing must be at least 1 reading")
        if int(self.horizon) < 0:
            raise ValueError("horizon must be 0 (no change statistic) or more readings")
        if not self.alarm > 0.0:
            raise ValueError("alarm must be positive")
        if not 0.0 < self.release <= self.alarm:
            raise ValueError("release must be in (0, alarm]")

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
        return {k: getattr(self, f"{k}_") for k in _VECTORS + _CHANGE}

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> Self:
        """Rebuild a fitted detector from `to_arrays` output."""
        detector = cls(**known_params(cls, params))
        for k in _VECTORS:
            setattr(detector, f"{k}_", np.asarray(arrays[k], dtype=np.float64))
        for k, off in zip(_CHANGE, _no_change(len(detector.center_)), strict=True):
            setattr(detector, f"{k}_", np.asarray(arrays.get(k, off), dtype=np.float64))
        detector._set_levels()
        return detector

    def _fitted(self) -> Self:
        if not hasattr(self, "loadings_"):
            raise NotFittedError("PcaSpc is warming up: call fit() first")
        return self


def _no_change(k: int) -> tuple[F64Array, F64Array, F64Array]:
    """A change model that never fires (for models saved before it existed)."""
    return np.ones(1), np.zeros((k, 1)), np.full(2, math.inf)
