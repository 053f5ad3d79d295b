"""Anomaly likelihood: how unusual a detector's recent raw scores are against their history.

A raw score says how odd one reading looks; on a noisy series odd readings are common and
a threshold on them floods users. The likelihood layer averages the last `short_rows` raw
scores, compares that average with the long-run distribution of such averages (a mean and
variance learned on the training scores at fit, then updated by an exponential moving
window of `long_rows` readings) and reports the Gaussian upper-tail probability ``q`` in
decades, ``d = -log10(q)``, as the score ``d / (d + D_HALF)``: 0.5 means "one in 10^6".
The score never saturates, so a threshold sweep can still rank the strongest anomalies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol, Self

import numpy as np

from forewarn.detection.base import Arrays, Explanation, F64Array, I64Array, Scored
from forewarn.detection.batch import BatchScorer, BatchScores, BatchScoring
from forewarn.detection.features import FeatureLayout
from forewarn.detection.isolation_forest import NotFittedError
from forewarn.detection.params import get_params, known_params
from forewarn.detection.rare_level import RareLevel
from forewarn.detection.robust import RobustZScore
from forewarn.detection.seasonal import SeasonalProfile
from forewarn.detection.surprise_rate import SurpriseRate
from forewarn.detection.windowed_forest import WindowedForest

D_HALF = 6.0  # decades of rarity that score 0.5
VAR_FLOOR = 1e-6  # raw scores live in [0, 1]: a std below 1e-3 is numerical noise
_SQRT2 = math.sqrt(2.0)


class RawDetector(Protocol):
    """A detector whose raw scores of a whole history can be computed in one batch."""

    threshold_: float
    layout_: FeatureLayout

    def fit(self, ts_ms: I64Array, values: F64Array) -> Self: ...
    def prime(self, ts_ms: I64Array, values: F64Array) -> BatchScorer: ...
    def params(self) -> dict[str, Any]: ...
    def history_scores(self, ts_ms: I64Array, values: F64Array) -> F64Array: ...
    def to_arrays(self) -> Arrays: ...


BASES: dict[str, Any] = {
    "robust_zscore": RobustZScore,
    "windowed_forest": WindowedForest,
    "seasonal_profile": SeasonalProfile,
    "rare_level": RareLevel,
    "surprise_rate": SurpriseRate,
}


def tail_decades(z: float) -> float:
    """-log10 of the Gaussian upper tail beyond z (asymptotic where erfc underflows)."""
    if z < 8.0:
        return -math.log10(0.5 * math.erfc(z / _SQRT2))
    log_q = -0.5 * z * z - math.log(z) - 0.5 * math.log(2 * math.pi) + math.log1p(-1 / (z * z))
    return -log_q / math.log(10)


def tail_decades_many(z: F64Array) -> F64Array:
    """`tail_decades` of each z, through the same C library calls."""
    out = np.empty(len(z))
    near = z < 8.0
    q = np.fromiter(map(math.erfc, (z[near] / _SQRT2).tolist()), np.float64)
    out[near] = -np.fromiter(map(math.log10, (0.5 * q).tolist()), np.float64)
    far = np.flatnonzero(~near)
    out[far] = [tail_decades(v) for v in z[far].tolist()]
    return out


def decades_score(decades: float) -> float:
    """Decades of rarity, [0, inf), as a score in [0, 1)."""
    return decades / (decades + D_HALF)


def moving_average(scores: F64Array, rows: int) -> F64Array:
    """Trailing mean over `rows` scores (fewer at the start)."""
    sums = np.cumsum(np.concatenate(([0.0], scores)))
    end = np.arange(1, len(scores) + 1)
    start = np.maximum(end - rows, 0)
    return np.asarray((sums[end] - sums[start]) / (end - start), dtype=np.float64)


class AnomalyLikelihood:
    """Anomaly likelihood of a base detector's raw scores.

    Parameters
    ----------
    base : str
        The raw scorer: "robust_zscore", "windowed_forest" or "seasonal_profile".
    base_params : mapping, optional
        Constructor parameters of the base (besides seed and metrics).
    short_rows : int
        Raw scores averaged into the current evidence.
    long_rows : int
        Effective length of the moving window of the long-run distribution.
    decades : float
        The shipped decision: recent raw scores at least 10^decades times rarer than usual
        (``threshold_ = decades_score(decades)``).
    seed, metrics
        Passed to the base.

    Examples
    --------
    >>> import numpy as np
    >>> ts = np.arange(2000, dtype=np.int64) * 60_000
    >>> values = 25 + np.random.default_rng(0).normal(0, 0.2, 2000)
    >>> detector = AnomalyLikelihood(metrics=["temperature"]).fit(ts, values)
    >>> state = detector.prime(ts, values)
    >>> [state.update((2000 + i) * 60_000, 25.0 + 5 * (i == 2)).score > 0.5 for i in range(4)]
    [False, False, True, True]

    It fails when anomalies are frequent: they widen the long-run distribution, so each new
    one looks less unusual; and a single odd reading on a very noisy series may not move the
    average far enough to count.
    """

    algorithm: ClassVar[str] = "anomaly_likelihood"
    threshold_: float
    base_: RawDetector
    mean_: float
    var_: float

    def __init__(
        self,
        *,
        base: str = "robust_zscore",
        base_params: Mapping[str, Any] | None = None,
        short_rows: int = 3,
        long_rows: int = 2_000,
        decades: float = 7.0,
        seed: int = 0,
        metrics: Sequence[str] = ("value",),
    ) -> None:
        """Store the parameters; nothing is learned until fit."""
        self.base = base
        self.base_params = dict(base_params or {})
        self.short_rows = short_rows
        self.long_rows = long_rows
        self.decades = decades
        self.seed = seed
        self.metrics = tuple(metrics)

    def params(self) -> dict[str, Any]:
        """Constructor parameters, JSON-serialisable."""
        return get_params(self)

    def fit(self, ts_ms: I64Array, values: F64Array) -> Self:
        """Fit the base, then the distribution of its averaged scores on the training rows."""
        self.base_ = self._base().fit(ts_ms, values)
        averaged = moving_average(self._training_scores(ts_ms, values), self.short_rows)
        self.mean_, self.var_ = float(np.mean(averaged)), max(float(np.var(averaged)), VAR_FLOOR)
        self.threshold_ = decades_score(self.decades)
        return self

    def prime(self, ts_ms: I64Array, values: F64Array) -> LikelihoodState:
        """The base's state, wrapped; the recent raw scores come from the history."""
        recent = self.base_.history_scores(ts_ms, values)[-self.short_rows :]
        return LikelihoodState(self, self.base_.prime(ts_ms, values), recent.tolist())

    def to_arrays(self) -> Arrays:
        """The base's arrays plus the learned distribution."""
        self._check_fitted()
        moments = np.array([self.mean_, self.var_])
        return {**self.base_.to_arrays(), "likelihood": moments}

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> Self:
        """Rebuild a fitted detector from `to_arrays` output."""
        detector = cls(**known_params(cls, params))
        base_params = {**detector.base_params, "seed": detector.seed, "metrics": detector.metrics}
        detector.base_ = BASES[detector.base].from_arrays(arrays, params=base_params)
        detector.mean_, detector.var_ = (float(v) for v in arrays["likelihood"].tolist())
        detector.threshold_ = decades_score(detector.decades)
        return detector

    def _base(self) -> RawDetector:
        if self.base not in BASES:
            raise ValueError(f"unknown base {self.base!r}; use one of {', '.join(BASES)}")
        base: RawDetector = BASES[self.base](
            **self.base_params, seed=self.seed, metrics=self.metrics
        )
        return base

    def _training_scores(self, ts_ms: I64Array, values: F64Array) -> F64Array:
        raw = self.base_.history_scores(ts_ms, values)
        skip = self.base_.layout_.warmup_rows
        return raw[skip:] if len(raw) >= 2 * skip else raw

    def _check_fitted(self) -> None:
        if not hasattr(self, "base_"):
            raise NotFittedError("AnomalyLikelihood is warming up: call fit() first")


class LikelihoodState(BatchScoring):
    """A base state whose raw scores are turned into an anomaly likelihood."""

    def __init__(self, detector: AnomalyLikelihood, base: BatchScorer, recent: list[float]) -> None:
        """Start from the learned distributions and the history's last raw scores."""
        self._base = base
        self._short = detector.short_rows
        self._recent = ([0.0] * self._short + recent)[-self._short :]
        self._sum = sum(self._recent)
        alpha = 1.0 / detector.long_rows
        self._averaged = RunningGaussian(detector.mean_, detector.var_, alpha)
        self._n = 0
        self.raw = 0.0

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Score the reading with the base, then how unusual the recent average is."""
        scored = self._base.update(ts_ms, value)
        raw = self.raw = scored.score
        slot = self._n % self._short
        self._sum += raw - self._recent[slot]
        self._recent[slot] = raw
        self._n += 1
        z = self._averaged.push(self._sum / self._short)
        return Scored(decades_score(tail_decades(z)), scored.warming_up)

    @property
    def width(self) -> int:
        """Values per reading."""
        return self._base.width

    def score_batch(self, ts_ms: I64Array, values: F64Array) -> BatchScores:
        """As `update` on each reading; only the moving mean and variance run in a loop."""
        base = self._base.score_batch(ts_ms, values)
        z = self._averaged.push_many(self._recent_sums(base.scores) / self._short)
        self.raw = float(base.scores[-1])
        decades = tail_decades_many(z)
        return BatchScores(decades / (decades + D_HALF), base.warming_up, base.explain)

    def _recent_sums(self, raw: F64Array) -> F64Array:
        """The sum of the last `short_rows` raw scores after each reading, kept as `update`
        keeps it (one subtraction and one addition per reading, in order)."""
        n, m = self._n, len(raw)
        ahead = min(m, self._short)
        slots = (n + np.arange(m)) % self._short
        recent = np.array(self._recent)
        old = np.concatenate((recent[slots[:ahead]], raw[: m - ahead]))
        sums = np.cumsum(np.concatenate(([self._sum], raw - old)))[1:]
        recent[slots[m - ahead :]] = raw[m - ahead :]
        self._recent, self._sum, self._n = recent.tolist(), float(sums[-1]), n + m
        return sums

    def explain(self) -> Explanation:
        """The base's explanation of the last reading."""
        return self._base.explain()


class RunningGaussian:
    """Exponentially weighted mean and variance; `push` returns the z of the new value."""

    def __init__(self, mean: float, var: float, alpha: float) -> None:
        """Start from a learned mean and variance."""
        self._mean, self._var, self._alpha = mean, var, alpha

    def push(self, x: float) -> float:
        """z of x against the values before it; then learn x."""
        alpha, var = self._alpha, self._var
        delta = x - self._mean
        self._mean += alpha * delta
        learned = (1 - alpha) * (var + alpha * delta * delta)
        self._var = learned if learned > VAR_FLOOR else VAR_FLOOR
        return delta / math.sqrt(var)

    def push_many(self, xs: F64Array) -> F64Array:
        """`push` on each value in turn: a tight loop, as each step needs the last."""
        mean, var, alpha = self._mean, self._var, self._alpha
        keep, sqrt, out = 1 - alpha, math.sqrt, []
        for x in xs.tolist():
            delta = x - mean
            out.append(delta / sqrt(var))
            mean += alpha * delta
            var = keep * (var + alpha * delta * delta)
            if var < VAR_FLOOR:
                var = VAR_FLOOR
        self._mean, self._var = mean, var
        return np.array(out, dtype=np.float64)
