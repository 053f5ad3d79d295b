"""Surprise rate: how often unusual changes occurred lately, against how often in training.

Some faults change how *often* unusual readings occur, not how unusual any one of them is
(a bearing that knocks more often, a sensor with more and more glitches, a machine whose
temperature starts to jump about before it fails). At fit, a change (the first difference)
counts as unusual when its distance from the training median change reaches the training's
99th percentile of such distances (`RATE`; where more than 99 % are exactly zero, any
non-zero distance); the share ``p`` of training changes that do is learned with it. A
reading then scores by how rare the count ``k`` of unusual changes among the last ``h``
readings is under ``K ~ Binomial(h, p)``, with ``h`` one hour of readings at the median
sampling interval (used only if the training history covers it `COVER_FACTOR` times).

The tail is the mid-p one and is reported as the normal score ``z`` with that Gaussian
upper tail: under the training rate, the scores are then close to standard normal, which
is what the likelihood layer (a Gaussian fitted to raw scores) assumes. The raw score is
``z`` mapped nearly linearly into (0, 1), with the likelihood's variance floor at one z
squared, so that a calm history never makes one more unusual change look like many sigmas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from statistics import NormalDist
from typing import Any, ClassVar, Self

import numpy as np

from forewarn.detection.base import Arrays, Explanation, F64Array, I64Array, Scored
from forewarn.detection.batch import BatchScores, BatchScoring
from forewarn.detection.features import (
    HOUR_MS,
    FeatureLayout,
    as_columns,
    checked_history,
    covered_rows,
    horizon_text,
)
from forewarn.detection.isolation_forest import NotFittedError
from forewarn.detection.params import get_params, known_params

RATE = 0.01  # a change is unusual if as far out as the training's 99th percentile
# Counted over the last hour: long enough for a burst of a few changes at minute or
# five-minute sampling, short enough that an excursion this member opens ends soon after.
HORIZONS_MS = (HOUR_MS,)
# Raw score 0.5 + 0.5 z / (|z| + Z_HALF): slope 1e-3 per z near 0, so the likelihood's
# variance floor (VAR_FLOOR = 1e-6) is exactly one z squared, the null variance.
Z_HALF = 500.0
Z_SHIPPED = 5.0  # shipped decision of the member alone: a count one in 3.5 million
LEVEL_FLOOR = 1e-12  # the level of a metric whose training changes were all equal
_NORMAL = NormalDist()
_VECTORS = ("center", "level", "rate")


def unusual_level(distance: F64Array) -> F64Array:
    """Per column of distances from the median change, the one an unusual change reaches."""
    level = np.quantile(distance, 1 - RATE, axis=0)
    nonzero = np.where(distance > 0, distance, np.inf).min(axis=0, initial=np.inf)
    level = np.where(level > 0, level, nonzero)
    return np.asarray(np.where(np.isfinite(level), level, LEVEL_FLOOR), dtype=np.float64)


def rate_horizons(interval_ms: int, n_rows: int) -> list[int]:
    """Rows of each horizon the sampling interval and the training length support."""
    return sorted({r for h in HORIZONS_MS if (r := covered_rows(h, interval_ms, n_rows))})


def normal_score(log_q: float) -> float:
    """The z whose standard normal upper tail is exp(log_q) (asymptotic below 1e-300)."""
    if log_q > -690.0:
        return -_NORMAL.inv_cdf(min(math.exp(log_q), 1 - 1e-16))
    t = -2.0 * log_q
    return math.sqrt(t - math.log(t) - math.log(2 * math.pi))


def tail_table(h: int, p: float) -> list[float]:
    """The normal score of the mid-p tail ``P(K > k) + P(K = k) / 2`` of K ~ Binomial(h, p),
    for each count k = 0..h (mid-p keeps a discrete tail near uniform under the null)."""
    k = np.arange(h + 1, dtype=np.float64)
    log_fact = np.array([math.lgamma(j + 1) for j in range(h + 1)])
    log_pmf = log_fact[h] - log_fact - log_fact[::-1] + k * math.log(p) + (h - k) * math.log1p(-p)
    at_least = np.logaddexp.accumulate(log_pmf[::-1])[::-1]  # log P(K >= k)
    log_mid = np.logaddexp(np.append(at_least[1:], -np.inf), log_pmf - math.log(2))
    return [normal_score(v) for v in log_mid.tolist()]


def z_score(z: Any) -> Any:
    """A normal score (float or array) as a raw score in (0, 1); 0.5 is z = 0."""
    return 0.5 + 0.5 * z / (abs(z) + Z_HALF)


class SurpriseRate:
    """How rare the recent count of unusual changes is, against the training rate.

    Parameters
    ----------
    seed : int
        Unused (the method is deterministic); kept for the common detector signature.
    metrics : sequence of str
        Names of the metrics, one per column of the values.

    Examples
    --------
    >>> import numpy as np
    >>> ts = np.arange(2000, dtype=np.int64) * 300_000
    >>> values = 25 + np.random.default_rng(0).normal(0, 0.2, 2000)
    >>> state = SurpriseRate(metrics=["vibration"]).fit(ts, values).prime(ts, values)
    >>> [state.update((2000 + i) * 300_000, 25.0).score > 0.505 for i in range(12)][-1]
    False
    >>> knocks = [state.update((2012 + i) * 300_000, 25.0 + 3 * (i % 2)) for i in range(6)]
    >>> knocks[-1].score > 0.505
    True
    >>> state.explain().summary
    'vibration changed unusually 5 times in the last 1-hour window; about 0.13 expected'

    It fails when unusual changes come in bursts in training too (a bursty count series):
    the rate learned is an average, so a normal burst looks like many surprises at once.
    """

    algorithm: ClassVar[str] = "surprise_rate"
    threshold_: float
    layout_: FeatureLayout
    horizons_: I64Array
    center_: F64Array  # median change, per metric
    level_: F64Array  # distance from it that an unusual change reaches
    rate_: F64Array  # share of training changes that reach it (the binomial's p)

    def __init__(self, *, seed: int = 0, metrics: Sequence[str] = ("value",)) -> None:
        """Store the parameters; nothing is learned until fit."""
        self.seed = seed
        self.metrics = tuple(metrics)

    def params(self) -> dict[str, Any]:
        """Constructor parameters, JSON-serialisable."""
        return get_params(self)

    def fit(self, ts_ms: I64Array, values: F64Array) -> Self:
        """Learn the horizons and each metric's level of an unusual change and its rate."""
        checked_history(ts_ms, values)
        self.layout_ = FeatureLayout.learn(ts_ms)
        self.horizons_ = np.array(rate_horizons(self.layout_.interval_ms, len(ts_ms)), np.int64)
        changes = np.diff(as_columns(values), axis=0)
        self.center_ = np.median(changes, axis=0)
        distance = np.abs(changes - self.center_)
        self.level_ = unusual_level(distance)
        # Laplace's rule of succession: a level never reached in training is not impossible
        self.rate_ = ((distance >= self.level_).sum(axis=0) + 1) / (len(distance) + 2)
        self.threshold_ = float(z_score(Z_SHIPPED))
        return self

    def history_scores(self, ts_ms: I64Array, values: F64Array) -> F64Array:
        """Scores of every reading of a history, each against the readings before it."""
        state = self.prime(ts_ms[:0], values[:0])
        return state.score_batch(np.asarray(ts_ms, np.int64), as_columns(values)).scores

    def prime(self, ts_ms: I64Array, values: F64Array) -> RateState:
        """A state primed with the history's last changes (learned, not scored)."""
        self._check_fitted()
        state = RateState(self)
        if len(ts_ms):
            state.score_batch(np.asarray(ts_ms, np.int64), as_columns(values))
        return state

    def to_arrays(self) -> Arrays:
        """Layout, horizons, levels and rates as numeric arrays."""
        self._check_fitted()
        vectors = {k: getattr(self, f"{k}_") for k in _VECTORS}
        return {**self.layout_.to_arrays(), "horizons": self.horizons_, **vectors}

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> Self:
        """Rebuild a fitted detector from `to_arrays` output."""
        detector = cls(**known_params(cls, params))
        detector.layout_ = FeatureLayout.from_arrays(arrays)
        detector.horizons_ = np.asarray(arrays["horizons"], dtype=np.int64)
        for k in _VECTORS:
            setattr(detector, f"{k}_", np.asarray(arrays[k], dtype=np.float64))
        detector.threshold_ = float(z_score(Z_SHIPPED))
        return detector

    def _check_fitted(self) -> None:
        if not hasattr(self, "rate_"):
            raise NotFittedError("SurpriseRate is warming up: call fit() first")


class RateState(BatchScoring):
    """Counts of unusual changes over each horizon, from a ring of the last flags: O(1).

    Until a horizon has seen h readings its count covers fewer and is judged as if over h:
    a fresh state under-reports, it never raises a false alarm for lack of history.
    """

    def __init__(self, detector: SurpriseRate) -> None:
        """An empty state: no change seen yet."""
        self._detector = detector
        self._horizons = detector.horizons_.tolist()
        self._center = detector.center_.tolist()
        self._level = detector.level_.tolist()
        self._tables = [[tail_table(h, p) for h in self._horizons] for p in detector.rate_]
        self._size = max(self._horizons, default=0)
        self._ring = [[0] * self._size for _ in self._center]
        self._counts = [[0] * len(self._horizons) for _ in self._center]
        self._prev: list[float] = []
        self._n = 0
        self._best = (0, 0, 0)  # metric, horizon index and count of the rarest

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Count the reading's change if unusual, then score the rarest recent count."""
        values = [float(value)] if isinstance(value, float | int) else [float(v) for v in value]
        if not self._size:
            self._prev, self._n = values, self._n + 1
            return Scored(0.5)
        prev, n, size = self._prev, self._n, self._size
        slot = n % size
        top, best = -math.inf, self._best
        for m, x in enumerate(values):
            flag = 1 if prev and abs(x - prev[m] - self._center[m]) >= self._level[m] else 0
            ring, counts, tables = self._ring[m], self._counts[m], self._tables[m]
            for j, h in enumerate(self._horizons):
                counts[j] += flag - (ring[(slot - h) % size] if n >= h else 0)
                z = tables[j][counts[j]]
                if z > top:
                    top, best = z, (m, j, counts[j])
            ring[slot] = flag
        self._prev, self._n, self._best = values, n + 1, best
        return Scored(z_score(top))

    @property
    def width(self) -> int:
        """Values per reading."""
        return len(self._center)

    def score_batch(self, ts_ms: I64Array, values: F64Array) -> BatchScores:
        """As `update` on each reading in turn: flags and running counts with numpy."""
        rows = len(values)
        if not rows:  # e.g. a fresh stream primed on no history
            return BatchScores(np.empty(0), np.zeros(0, dtype=bool), self._explain_none)
        prev = np.array([self._prev or values[0].tolist()])
        changes = np.diff(np.concatenate((prev, values)), axis=0)
        flags = (np.abs(changes - np.array(self._center)) >= np.array(self._level)).astype(int)
        flags[0] &= bool(self._prev)
        top = np.full(rows, -np.inf)
        best = np.tile(np.array(self._best, dtype=np.int64), (rows, 1))
        if self._size:
            for m in range(self.width):
                self._count_metric(m, flags[:, m], top, best)
        self._prev, self._n = values[-1].tolist(), self._n + rows
        self._best = (int(best[-1, 0]), int(best[-1, 1]), int(best[-1, 2]))
        raw = z_score(top) if self._size else np.full(rows, 0.5)
        explain = partial(self._explain_at, best)
        return BatchScores(raw, np.zeros(rows, dtype=bool), explain)

    def _count_metric(self, m: int, flags: I64Array, top: F64Array, best: I64Array) -> None:
        """Counts and scores of metric m over a batch; raises `top` and `best` in place."""
        n, size = self._n, self._size
        ring = self._ring[m]
        past = np.array([ring[(n - size + i) % size] for i in range(size)], dtype=np.int64)
        past[: max(size - n, 0)] = 0  # slots never written
        full = np.concatenate((past, flags))
        sums = np.concatenate(([0], np.cumsum(full)))
        end = size + np.arange(1, len(flags) + 1)
        for j, h in enumerate(self._horizons):
            counts = sums[end] - sums[end - h]
            z = np.asarray(self._tables[m][j])[counts]
            better = z > top
            top[better] = z[better]
            best[better] = np.column_stack((np.full(len(z), m), np.full(len(z), j), counts))[better]
            self._counts[m][j] = int(counts[-1])
        start = (n + len(flags)) % size
        self._ring[m] = np.roll(full[-size:], start).tolist()

    def explain(self) -> Explanation:
        """How many unusual changes the rarest horizon saw, and how many were expected."""
        return self._explain(*self._best)

    def _explain_none(self, i: int) -> Explanation:
        raise IndexError(f"an empty batch has no reading {i}")

    def _explain_at(self, best: I64Array, i: int) -> Explanation:
        return self._explain(int(best[i, 0]), int(best[i, 1]), int(best[i, 2]))

    def _explain(self, m: int, j: int, k: int) -> Explanation:
        d = self._detector
        if not self._size:
            return Explanation("too little history to count unusual changes", (), d.metrics)
        h, p = self._horizons[j], float(d.rate_[m])
        expected = h * p
        span = horizon_text(h * d.layout_.interval_ms)
        summary = (
            f"{d.metrics[m]} changed unusually {k} times in the last {span} window; "
            f"about {expected:.2g} expected"
        )
        # No deviation: a count is no level, rate or range, so it never changes an event's kind
        return Explanation(summary, (), (d.metrics[m],))
