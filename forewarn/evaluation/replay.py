"""Replay labelled series through a streaming detector without look-ahead, then score them.

Contract with the detector (two callables, so this harness needs no detector package):

- ``fit(ts_hist, values_hist) -> Replayer`` learns from history only. It is called first on
  the probationary rows ``[0, p)`` and, with ``retrain_every_rows=k``, again after every
  ``k`` scored rows on all rows seen so far (or the last ``retrain_window_rows`` of them).
  It receives copies, so it cannot reach later rows of the series.
- Priming: the replayer returned by ``fit`` already holds that history as its recent window;
  its next ``update`` is the row right after the last history row, with nothing replayed.
- ``Replayer.update(ts_ms, value) -> (score, is_anomaly)`` is called once per row after the
  probationary period, in file order (time order, bar a few repeated timestamps in NAB).
  The score feeds the NAB threshold sweep; ``is_anomaly`` is the product's own decision
  (it may include suppression) and is scored as given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np

from forewarn.errors import InvalidInputError
from forewarn.evaluation.corpus import LabelledSeries
from forewarn.evaluation.events import EventMetrics, file_events, summarise
from forewarn.evaluation.nab import (
    PROFILES,
    BoolArray,
    FileLayout,
    FloatArray,
    IntArray,
    Profile,
    ProfileScore,
    detections_at,
    file_layout,
    optimise_threshold,
    probationary_rows,
    score_decisions,
)


class Replayer(Protocol):
    """A detector primed on history that consumes one later row at a time."""

    def update(self, ts: int, value: float) -> tuple[float, bool]:
        """Score the next row: (anomaly score, higher = more anomalous; is it an anomaly)."""
        ...


FitFn = Callable[[IntArray, FloatArray], Replayer]


@dataclass(frozen=True)
class ReplayResult:
    """One file replayed: per-row scores and decisions, and where the time went."""

    name: str
    probation: int
    scores: FloatArray  # NaN on probationary rows
    is_anomaly: BoolArray  # False on probationary rows
    n_fits: int
    fit_seconds: float
    update_seconds: float

    @property
    def rows_per_second(self) -> float:
        """Scored rows per second of detector time (fits included)."""
        seconds = self.fit_seconds + self.update_seconds
        return (len(self.scores) - self.probation) / seconds if seconds > 0 else math.inf


def _history(
    ts: IntArray, values: FloatArray, end: int, window: int | None
) -> tuple[IntArray, FloatArray]:
    """Copies of the rows before ``end`` (the last ``window`` of them if given)."""
    start = 0 if window is None else max(0, end - window)
    return ts[start:end].copy(), values[start:end].copy()


def _segments(probation: int, n_rows: int, every: int | None) -> list[tuple[int, int]]:
    """Row ranges replayed by one fitted replayer each."""
    step = every or max(n_rows - probation, 1)
    starts = range(probation, max(n_rows, probation + 1), step)
    return [(a, min(a + step, n_rows)) for a in starts]


def _check_positive(**params: int | None) -> None:
    """Refuse non-positive optional counts, naming the parameter."""
    for name, value in params.items():
        if value is not None and value < 1:
            raise InvalidInputError((name,), f"{name} must be >= 1, got {value}")


def _replay_rows(
    series: LabelledSeries, fit: FitFn, every: int | None, window: int | None
) -> tuple[list[tuple[float, bool]], int, float]:
    """Run freshly fitted replayers over the scored rows: (outputs, fits, fit seconds)."""
    ts, values = series.ts_ms, series.values
    stamps, readings = ts.tolist(), values.tolist()
    outputs: list[tuple[float, bool]] = []
    fit_seconds = 0.0
    segments = _segments(probationary_rows(len(ts)), len(ts), every)
    for k, (a, b) in enumerate(segments):
        tick = time.perf_counter()
        replayer = fit(*_history(ts, values, a, window if k else None))
        fit_seconds += time.perf_counter() - tick
        rows = zip(stamps[a:b], readings[a:b], strict=True)
        outputs.extend(replayer.update(t, v) for t, v in rows)
    return outputs, len(segments), fit_seconds


def replay_series(
    series: LabelledSeries,
    fit: FitFn,
    *,
    retrain_every_rows: int | None = None,
    retrain_window_rows: int | None = None,
) -> ReplayResult:
    """Replay one series row by row, as NAB and the product would run it."""
    _check_positive(retrain_every_rows=retrain_every_rows, retrain_window_rows=retrain_window_rows)
    n_rows = len(series.ts_ms)
    probation = probationary_rows(n_rows)
    started = time.perf_counter()
    outputs, n_fits, fit_seconds = _replay_rows(
        series, fit, retrain_every_rows, retrain_window_rows
    )
    update_seconds = time.perf_counter() - started - fit_seconds
    scores, flags = np.full(n_rows, np.nan), np.zeros(n_rows, dtype=np.bool_)
    if outputs:
        scores[probation:] = [score for score, _ in outputs]
        flags[probation:] = [bool(flag) for _, flag in outputs]
    return ReplayResult(series.name, probation, scores, flags, n_fits, fit_seconds, update_seconds)


@dataclass(frozen=True)
class CorpusEvaluation:
    """NAB and event-level results of a detector over a corpus."""

    replays: tuple[ReplayResult, ...]
    optimal: tuple[ProfileScore, ...]  # per profile, at its corpus-optimal threshold
    shipped: tuple[ProfileScore, ...]  # per profile, at the detector's own is_anomaly
    events_shipped: EventMetrics
    events_optimal: EventMetrics  # at the first profile's optimal threshold
    wall_seconds: float

    @property
    def rows_per_second(self) -> float:
        """Scored rows per wall-clock second of the whole replay (all workers)."""
        rows = sum(len(r.scores) - r.probation for r in self.replays)
        return rows / self.wall_seconds if self.wall_seconds > 0 else math.inf


def _events(
    corpus: Sequence[LabelledSeries],
    layouts: Sequence[FileLayout],
    decisions: Sequence[BoolArray],
    merge_gap_rows: int,
) -> EventMetrics:
    """Event metrics of per-file decisions."""
    files = zip(corpus, layouts, decisions, strict=True)
    return summarise([file_events(s.name, s.ts_ms, lay, d, merge_gap_rows) for s, lay, d in files])


def evaluate_replays(
    corpus: Sequence[LabelledSeries],
    replays: Sequence[ReplayResult],
    *,
    profiles: Sequence[Profile] = PROFILES,
    merge_gap_rows: int = 1,
    wall_seconds: float = 0.0,
) -> CorpusEvaluation:
    """Score finished replays (in corpus order) with NAB and event-level metrics."""
    if len(corpus) != len(replays):
        raise InvalidInputError(("replays",), "need one replay per series")
    layouts = [file_layout(s.ts_ms, s.windows_ms) for s in corpus]
    scores = [r.scores for r in replays]
    flags = [r.is_anomaly for r in replays]
    optimal = optimise_threshold(layouts, scores, profiles)
    threshold = optimal[0].threshold if optimal and optimal[0].threshold is not None else math.inf
    return CorpusEvaluation(
        replays=tuple(replays),
        optimal=optimal,
        shipped=score_decisions(layouts, flags, profiles),
        events_shipped=_events(corpus, layouts, flags, merge_gap_rows),
        events_optimal=_events(
            corpus, layouts, [detections_at(s, threshold) for s in scores], merge_gap_rows
        ),
        wall_seconds=wall_seconds,
    )


def evaluate_corpus(
    corpus: Sequence[LabelledSeries],
    fit: FitFn,
    *,
    profiles: Sequence[Profile] = PROFILES,
    retrain_every_rows: int | None = None,
    retrain_window_rows: int | None = None,
    merge_gap_rows: int = 1,
    workers: int = 1,
) -> CorpusEvaluation:
    """Replay every series (in ``workers`` processes if > 1; ``fit`` must then pickle) and score."""
    _check_positive(workers=workers)
    run = partial(
        replay_series,
        fit=fit,
        retrain_every_rows=retrain_every_rows,
        retrain_window_rows=retrain_window_rows,
    )
    started = time.perf_counter()
    if workers == 1:
        replays = [run(series) for series in corpus]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            replays = list(pool.map(run, corpus))
    wall = time.perf_counter() - started
    return evaluate_replays(
        corpus, replays, profiles=profiles, merge_gap_rows=merge_gap_rows, wall_seconds=wall
    )
