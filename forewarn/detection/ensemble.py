"""The default detector: anomaly likelihoods of robust feature surprises, of seasonal
prediction errors, of how rarely the recent levels were visited and of how often unusual
changes occur, and a range check.

Two of the three layers (STYLE §8): (1) each member detector turns a reading into a raw
score; (2) the likelihood layer turns raw scores into how unusual the recent ones are
against their own history, and a reading that leaves the range seen so far by more than
`range_tolerance` of its width scores 1 whatever the models say. The third, which readings
open an event, is `detection.events` (see `detection.tracked`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Self

import numpy as np

from forewarn.detection.base import (
    Arrays,
    BoolArray,
    Deviation,
    Explanation,
    F64Array,
    I64Array,
    Scored,
)
from forewarn.detection.batch import BatchScores, BatchScoring
from forewarn.detection.features import as_columns
from forewarn.detection.isolation_forest import NotFittedError
from forewarn.detection.known_range import Exit, KnownRange
from forewarn.detection.likelihood import AnomalyLikelihood, LikelihoodState, decades_score
from forewarn.detection.params import get_params, known_params

RANGE_SCORE = 1.0  # score of a reading outside the known range (see known_range) ...
RANGE_MIN_ROWS = 300  # ... once the range has been learned on at least this many readings
RELEASE_SHARE = 0.5  # normal readings' likelihoods stay far below the threshold: an
# excursion has calmed down once they are below this share of it
# Members that say how long or how often a series has been unusual rather than what is
# unusual: they explain a reading only while every other member is calm (below release).
CONTEXT_MEMBERS = frozenset({"rare_level", "surprise_rate"})


class LikelihoodEnsemble:
    """Likelihood of member raw scores (max over members), a range check and event logic.

    Parameters
    ----------
    members : sequence of str
        Raw scorers, each wrapped in its own anomaly likelihood ("robust_zscore",
        "seasonal_profile", "rare_level", "surprise_rate", "windowed_forest").
    range_tolerance : float
        A reading further than this share of the known range beyond it scores 1.
    short_rows, long_rows, decades
        As for :class:`AnomalyLikelihood`; `decades` sets the shipped threshold.
    seed : int
        Passed to the members.
    metrics : sequence of str
        Names of the metrics, one per column of the values.

    Examples
    --------
    >>> import numpy as np
    >>> ts = np.arange(3000, dtype=np.int64) * 60_000
    >>> values = 25 + np.random.default_rng(0).normal(0, 0.2, 3000)
    >>> detector = LikelihoodEnsemble(metrics=["temperature"]).fit(ts, values)
    >>> state = detector.prime(ts, values)
    >>> [state.update((3000 + i) * 60_000, 25.1).score > detector.threshold_ for i in range(2)]
    [False, False]
    >>> state.update(3002 * 60_000, 30.0).score
    1.0
    >>> state.explain().summary.startswith("temperature 30 is outside its known range")
    True

    It fails on faults that stay inside the known range and move too slowly for the
    one-day features (a drift over weeks).
    """

    algorithm: ClassVar[str] = "ensemble"
    threshold_: float
    release_: float
    members_: list[AnomalyLikelihood]
    low_: F64Array
    high_: F64Array

    def __init__(
        self,
        *,
        members: Sequence[str] = (
            "robust_zscore",
            "seasonal_profile",
            "rare_level",
            "surprise_rate",
        ),
        range_tolerance: float = 0.02,
        short_rows: int = 3,
        long_rows: int = 2_000,
        decades: float = 7.0,
        seed: int = 0,
        metrics: Sequence[str] = ("value",),
    ) -> None:
        """Store the parameters; nothing is learned until fit."""
        self.members = tuple(members)
        self.range_tolerance = range_tolerance
        self.short_rows = short_rows
        self.long_rows = long_rows
        self.decades = decades
        self.seed = seed
        self.metrics = tuple(metrics)

    def params(self) -> dict[str, Any]:
        """Constructor parameters, JSON-serialisable."""
        return get_params(self)

    def fit(self, ts_ms: I64Array, values: F64Array) -> Self:
        """Fit every member's likelihood and learn each metric's range."""
        self.members_ = [self._member(name).fit(ts_ms, values) for name in self.members]
        columns = as_columns(values)
        self.low_, self.high_ = columns.min(axis=0), columns.max(axis=0)
        self.threshold_ = decades_score(self.decades)
        self.release_ = RELEASE_SHARE * self.threshold_
        return self

    def prime(self, ts_ms: I64Array, values: F64Array) -> EnsembleState:
        """Member states primed with history; the range also covers the history."""
        self._check_fitted()
        columns = as_columns(values)
        low = np.minimum(self.low_, columns.min(axis=0, initial=np.inf))
        high = np.maximum(self.high_, columns.max(axis=0, initial=-np.inf))
        states = [member.prime(ts_ms, values) for member in self.members_]
        return EnsembleState(self, states, (low.tolist(), high.tolist()), len(ts_ms))

    def to_arrays(self) -> Arrays:
        """Each member's arrays under an m<i>_ prefix, plus the ranges."""
        self._check_fitted()
        arrays: Arrays = {"low": self.low_, "high": self.high_}
        for i, member in enumerate(self.members_):
            arrays.update({f"m{i}_{k}": v for k, v in member.to_arrays().items()})
        return arrays

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> Self:
        """Rebuild a fitted detector from `to_arrays` output."""
        detector = cls(**known_params(cls, params))
        detector.members_ = []
        for i, name in enumerate(detector.members):
            prefix = f"m{i}_"
            own = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            params_i = detector._member(name).params()
            detector.members_.append(AnomalyLikelihood.from_arrays(own, params=params_i))
        detector.low_ = np.asarray(arrays["low"], dtype=np.float64)
        detector.high_ = np.asarray(arrays["high"], dtype=np.float64)
        detector.threshold_ = decades_score(detector.decades)
        detector.release_ = RELEASE_SHARE * detector.threshold_
        return detector

    def _member(self, name: str) -> AnomalyLikelihood:
        return AnomalyLikelihood(
            base=name,
            short_rows=self.short_rows,
            long_rows=self.long_rows,
            decades=self.decades,
            seed=self.seed,
            metrics=self.metrics,
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            raise NotFittedError("LikelihoodEnsemble is warming up: call fit() first")


class EnsembleState(BatchScoring):
    """Member likelihoods, the range check and the event gate, one reading at a time."""

    def __init__(
        self,
        detector: LikelihoodEnsemble,
        members: list[LikelihoodState],
        known_range: tuple[list[float], list[float]],
        seen: int,
    ) -> None:
        """Start from primed member states, the known range and the history length."""
        self._members = members
        self._context = [name in CONTEXT_MEMBERS for name in detector.members]
        self._calm = detector.release_
        self._range = KnownRange(detector.metrics, *known_range, detector.range_tolerance)
        self._exits: list[Exit] = []
        self._best = 0
        self._seen = seen

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Score a reading and check its range, then learn it."""
        scored = [member.update(ts_ms, value) for member in self._members]
        scores = [s.score for s in scored]
        self._best = self._explaining(scores)
        score = max(scores)
        values = [float(value)] if isinstance(value, float | int) else [float(v) for v in value]
        exits = self._range.check(values)
        self._seen += 1
        self._exits = exits if self._seen > RANGE_MIN_ROWS else []
        if self._exits:
            score = RANGE_SCORE
        return Scored(score, scored[0].warming_up)

    @property
    def width(self) -> int:
        """Values per reading."""
        return self._range.width

    def score_batch(self, ts_ms: I64Array, values: F64Array) -> BatchScores:
        """As `update` on each reading in turn: members and range check batched."""
        members = [member.score_batch(ts_ms, values) for member in self._members]
        scores = np.stack([m.scores for m in members])
        best = explaining(scores, np.array(self._context), self._calm)
        score = scores.max(axis=0)
        seen = self._seen + 1 + np.arange(len(ts_ms))
        exits = {i: e for i, e in self._range.check_many(values).items() if e}
        exits = {i: e for i, e in exits.items() if seen[i] > RANGE_MIN_ROWS}
        score[list(exits)] = RANGE_SCORE
        self._seen, self._best = int(seen[-1]), int(best[-1])
        self._exits = exits.get(len(score) - 1, [])
        explain = partial(_explain_at, members, best, exits)
        return BatchScores(score, members[0].warming_up, explain)

    def explain(self) -> Explanation:
        """The range exit, if any, then the explaining member's explanation."""
        return with_exits(self._members[self._best].explain(), self._exits)

    def _explaining(self, scores: list[float]) -> int:
        """`explaining` for one reading, in plain Python (the streaming path's speed)."""
        best = max(range(len(scores)), key=scores.__getitem__)
        if not self._context[best]:
            return best
        others = [i for i, context in enumerate(self._context) if not context]
        other = max(others, key=scores.__getitem__, default=best)
        return other if scores[other] >= self._calm else best


def explaining(scores: F64Array, context: BoolArray, calm: float) -> I64Array:
    """Per reading (a column of `scores`, one row per member), the member that explains it:
    the highest-scoring one, unless that is a context member while another is not calm."""
    best: I64Array = np.argmax(scores, axis=0)
    if context.all() or not context.any():
        return best
    others = np.where(context[:, None], -np.inf, scores)
    use_other = context[best] & (others.max(axis=0) >= calm)
    return np.asarray(np.where(use_other, np.argmax(others, axis=0), best), dtype=np.int64)


def with_exits(base: Explanation, exits: list[Exit]) -> Explanation:
    """A member's explanation, after the range exits of the reading if it has any."""
    if not exits:
        return base
    metric, x, lo, hi = exits[0]
    text = f"{metric} {x:.4g} is outside its known range {lo:.4g} to {hi:.4g}"
    metrics = tuple(dict.fromkeys([m for m, *_ in exits] + list(base.metrics)))
    outside = tuple(
        Deviation("range", v, high if v > high else low, max(high - low, 0.0), m)
        for m, v, low, high in exits
    )
    return Explanation(f"{text}; {base.summary}", outside + base.deviations, metrics)


def _explain_at(
    members: list[BatchScores], best: I64Array, exits: dict[int, list[Exit]], i: int
) -> Explanation:
    """The explanation of reading i of a batch."""
    return with_exits(members[int(best[i])].explain(i), exits.get(i, []))
