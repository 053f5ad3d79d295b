"""Replay labelled series through a streaming detector without look-ahead, then score them.

Contract with the detector (two callables, so this harness needs no detector package):

- ``fit(ts_hist, values_hist) -> Replayer`` learns from history only (values (n,) for one
  metric, (n, k) for a device's k metrics). It is called first on the training rows
  ``[0, p)`` (NAB's probationary period unless the series says otherwise) and, with
  ``retrain_every_rows=k``, again after every ``k`` scored rows on all rows seen so far (or
  the last ``retrain_window_rows`` of them). It receives copies, so it cannot reach later
  rows of the series.
- Priming: the replayer returned by ``fit`` already holds that history as its recent window;
  its next ``update`` is the row right after the last history row, with nothing replayed.
- ``Replayer.update(ts_ms, value) -> Verdict`` is called once per row after the training
  rows, in file order (time order, bar a few repeated timestamps in NAB). The score feeds
  the NAB threshold sweep; ``is_anomaly`` (a new event to report) and ``anomalous`` (inside
  an excursion) are the product's own decisions and are scored as given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeAlias

import numpy as np

from forewarn.detection.decision import excursion_score
from forewarn.errors import InvalidInputError
from forewarn.evaluation.corpus import LabelledSeries, scoring_layout
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
    optimise_threshold,
    score_decisions,
)
from forewarn.evaluation.pointwise import PointwiseMetrics, pointwise, pool

Reading: TypeAlias = float | list[float]  # one metric's value, or one per metric of a device


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the product says of one replayed row (see `forewarn.detection.base.Scored`)."""

    score: float  # the detector's own score, higher = more anomalous
    is_anomaly: bool  # this row opens a new event to report
    anomalous: bool  # this row lies inside an excursion
    event_start: int | None = None  # when anomalous: the timestamp of the excursion's first row


class Replayer(Protocol):
    """A detector primed on history that consumes one later row at a time."""

    def update(self, ts: int, value: Reading) -> Verdict:
        """Score the next row."""
        ...


FitFn = Callable[[IntArray, FloatArray], Replayer]


@dataclass(frozen=True)
class ReplayResult:
    """One file replayed: per-row scores and decisions, and where the time went."""

    name: str
    probation: int
    scores: FloatArray  # NaN on probationary rows
    is_anomaly: BoolArray  # False on probationary rows
    anomalous: BoolArray  # False on probationary rows
    event_start: IntArray  # the excursion's first timestamp where anomalous, else 0
    n_fits: int
    fit_seconds: float
    update_seconds: float

    @property
    def rows_per_second(self) -> float:
        """Scored rows per second of detector time (fits included)."""
        seconds = self.fit_seconds + self.update_seconds
        return (len(self.scores) - self.probation) / seconds if seconds > 0 else math.inf


def sweep_scores(scores: FloatArray) -> FloatArray:
    """The scores a threshold sweep ranks: each reading keeps its score where it would open
    an event at some level and half of it while that excursion lasts (`ExcursionScore`), so
    any threshold, like the shipped event tracker, reports an excursion about once. The
    detector's own scores (`ReplayResult.scores`, the results CSVs) are never changed."""
    out = np.array(scores, dtype=np.float64)
    scored = np.flatnonzero(np.isfinite(out))
    calibrate = excursion_score()
    if calibrate is not None and len(scored):
        out[scored] = calibrate.update_many(out[scored])
    return out


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
) -> tuple[list[Verdict], int, float]:
    """Run freshly fitted replayers over the scored rows: (verdicts, fits, fit seconds)."""
    ts, values = series.ts_ms, series.values
    stamps, readings = ts.tolist(), values.tolist()
    outputs: list[Verdict] = []
    fit_seconds = 0.0
    segments = _segments(series.probation, len(ts), every)
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
    started = time.perf_counter()
    outputs, n_fits, fit_seconds = _replay_rows(
        series, fit, retrain_every_rows, retrain_window_rows
    )
    update_seconds = time.perf_counter() - started - fit_seconds
    return ReplayResult(
        series.name, series.probation, *_columns(series, outputs), n_fits, fit_seconds,
        update_seconds,
    )  # fmt: skip


def _columns(
    series: LabelledSeries, outputs: Sequence[Verdict]
) -> tuple[FloatArray, BoolArray, BoolArray, IntArray]:
    """Per-row scores, is_anomaly, anomalous and event starts; training rows stay empty."""
    n_rows, p = len(series.ts_ms), series.probation
    scores, flags = np.full(n_rows, np.nan), np.zeros(n_rows, dtype=np.bool_)
    anomalous, starts = np.zeros(n_rows, dtype=np.bool_), np.zeros(n_rows, dtype=np.int64)
    if outputs:
        scores[p:] = [v.score for v in outputs]
        flags[p:] = [v.is_anomaly for v in outputs]
        anomalous[p:] = [v.anomalous for v in outputs]
        own = series.ts_ms[p:].tolist()
        starts[p:] = [
            (t if v.event_start is None else v.event_start) if v.anomalous else 0
            for v, t in zip(outputs, own, strict=True)
        ]
    return scores, flags, anomalous, starts


@dataclass(frozen=True)
class CorpusEvaluation:
    """NAB, event-level and point-wise results of a detector over a corpus."""

    replays: tuple[ReplayResult, ...]
    optimal: tuple[ProfileScore, ...]  # per profile, at its corpus-optimal threshold; () if no NAB
    shipped: tuple[ProfileScore, ...]  # per profile, at the detector's own is_anomaly; () if no NAB
    events_shipped: EventMetrics  # on is_anomaly
    events_optimal: EventMetrics | None  # at the first profile's optimal threshold (NAB only)
    pointwise: PointwiseMetrics  # on anomalous, every scored row of every file pooled
    wall_seconds: float

    @property
    def has_nab(self) -> bool:
        """Whether NAB scores were computed (one metric per file, NAB's probation)."""
        return bool(self.optimal)

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


def _nab(
    corpus: Sequence[LabelledSeries],
    layouts: Sequence[FileLayout],
    replays: Sequence[ReplayResult],
    profiles: Sequence[Profile],
    merge_gap_rows: int,
) -> tuple[tuple[ProfileScore, ...], tuple[ProfileScore, ...], EventMetrics]:
    """NAB at the optimal thresholds and at shipped, and events at the first optimum."""
    scores = [sweep_scores(r.scores) for r in replays]
    optimal = optimise_threshold(layouts, scores, profiles)
    threshold = optimal[0].threshold if optimal and optimal[0].threshold is not None else math.inf
    shipped = score_decisions(layouts, [r.is_anomaly for r in replays], profiles)
    at_optimal = [detections_at(s, threshold) for s in scores]
    return optimal, shipped, _events(corpus, layouts, at_optimal, merge_gap_rows)


def evaluate_replays(
    corpus: Sequence[LabelledSeries],
    replays: Sequence[ReplayResult],
    *,
    profiles: Sequence[Profile] = PROFILES,
    merge_gap_rows: int = 1,
    wall_seconds: float = 0.0,
) -> CorpusEvaluation:
    """Score finished replays (in corpus order); NAB only where it is defined (`nab_scorable`)."""
    if len(corpus) != len(replays):
        raise InvalidInputError(("replays",), "need one replay per series")
    layouts = [scoring_layout(s) for s in corpus]
    optimal: tuple[ProfileScore, ...] = ()
    shipped: tuple[ProfileScore, ...] = ()
    at_optimal = None
    if corpus and all(s.nab_scorable for s in corpus):
        optimal, shipped, at_optimal = _nab(corpus, layouts, replays, profiles, merge_gap_rows)
    flags = [r.is_anomaly for r in replays]
    return CorpusEvaluation(
        replays=tuple(replays),
        optimal=optimal,
        shipped=shipped,
        events_shipped=_events(corpus, layouts, flags, merge_gap_rows),
        events_optimal=at_optimal,
        pointwise=pool(
            pointwise(r.anomalous, lay) for r, lay in zip(replays, layouts, strict=True)
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
