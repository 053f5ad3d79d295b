"""A detector's state with the event tracker deciding on its scores: what the pipeline,
the evaluation and the challenger all score with, so every door decides the same way."""

from __future__ import annotations

from collections.abc import Sequence

from forewarn.detection.base import (
    BatchVerdicts,
    Detector,
    Explanation,
    F64Array,
    I64Array,
    Scored,
)
from forewarn.detection.batch import MIN_BATCH, BatchScorer, BatchScores, BatchScoring, verdicts
from forewarn.detection.events import EventTracker
from forewarn.detection.features import as_columns


class TrackedState(BatchScoring):
    """Scores from the detector's state, events from an `EventTracker`.

    Examples
    --------
    >>> import numpy as np
    >>> from forewarn.detection.robust import RobustZScore
    >>> ts = np.arange(2000, dtype=np.int64) * 60_000
    >>> values = 25 + np.random.default_rng(0).normal(0, 0.2, 2000)
    >>> state = tracked(RobustZScore().fit(ts, values), ts, values)
    >>> state.update(2000 * 60_000, 25.1).anomalous
    False
    >>> hot = state.update(2001 * 60_000, 40.0)
    >>> hot.is_anomaly, hot.anomalous, hot.event_start == 2001 * 60_000
    (True, True, True)

    It decides only as well as the scores it is given.
    """

    def __init__(self, inner: BatchScorer, tracker: EventTracker) -> None:
        """Wrap a primed state."""
        self._inner = inner
        self._tracker = tracker

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Score with the state, then decide with the tracker."""
        scored = self._inner.update(ts_ms, value)
        values = [float(value)] if isinstance(value, float | int) else [float(v) for v in value]
        verdict = self._tracker.step(
            ts_ms, scored.score, scored.warming_up, self._inner.explain, values
        )
        return Scored(scored.score, scored.warming_up, *verdict)

    @property
    def width(self) -> int:
        """Values per reading."""
        return self._inner.width

    def score_batch(self, ts_ms: I64Array, values: F64Array) -> BatchScores:
        """As `update` on each reading in turn: the state's batch, then the tracker's."""
        batch = self._inner.score_batch(ts_ms, values)
        flags, inside, starts = self._tracker.step_many(
            ts_ms, batch.scores, batch.warming_up, batch.explain, values
        )
        return BatchScores(batch.scores, batch.warming_up, batch.explain, flags, inside, starts)

    def explain(self) -> Explanation:
        """Why the last reading scored as it did."""
        return self._inner.explain()

    def verdict_batch(
        self,
        ts_ms: Sequence[int],
        values: Sequence[float | Sequence[float]],
        threshold: float,
        *,
        min_batch: int = MIN_BATCH,
    ) -> BatchVerdicts:
        """Like `update` on each reading, deciding against `threshold` (the model's current
        one: an operator may have tuned it since the state was built)."""
        self._tracker.retarget(threshold)
        return verdicts(self, ts_ms, values, threshold, min_batch)

    def update_batch(
        self,
        ts_ms: Sequence[int],
        values: Sequence[float | Sequence[float]],
        threshold: float,
        *,
        min_batch: int = MIN_BATCH,
    ) -> tuple[list[float], list[bool], dict[int, Explanation]]:
        """`verdict_batch` in the `BatchState` form."""
        return self.verdict_batch(ts_ms, values, threshold, min_batch=min_batch).as_tuple()


def tracked(
    detector: Detector, ts_ms: I64Array, values: F64Array, threshold: float | None = None
) -> TrackedState:
    """The detector's state primed on history, deciding events against `threshold` (the
    detector's own by default); the history's band of each metric sets the range rule."""
    state = detector.prime(ts_ms, values)
    if not isinstance(state, BatchScorer):
        raise TypeError(f"{detector.algorithm} states cannot score a batch")
    columns = as_columns(values)
    bands = None
    if len(columns):
        bands = list(zip(columns.min(axis=0).tolist(), columns.max(axis=0).tolist(), strict=True))
    limit = detector.threshold_ if threshold is None else threshold
    release = getattr(detector, "release_", None)
    return TrackedState(state, EventTracker(limit, bands=bands, release=release))
