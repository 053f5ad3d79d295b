"""Backtest a registered detector on labelled series (``forewarn evaluate``, ``/ml/evaluate``).

Each series is replayed without look-ahead on the product's retraining schedule, then scored
with NAB (every profile, at the corpus-optimal threshold and at the shipped decisions) and
with event-level metrics.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from typing import Any

from forewarn.detection.registry import DEFAULT_ALGORITHM
from forewarn.detection.schedule import RETRAIN_EVERY_ROWS, RETRAIN_WINDOW_ROWS
from forewarn.errors import InvalidInputError
from forewarn.evaluation.corpus import LabelledSeries
from forewarn.evaluation.detectors import fit_function
from forewarn.evaluation.events import EventMetrics, FileEvents, WindowEvent, file_events, summarise
from forewarn.evaluation.nab import (
    PROBATION_CAP,
    PROBATION_SHARE,
    PROFILES,
    EvaluationError,
    FloatArray,
    IntArray,
    Profile,
    ProfileScore,
    file_layout,
    probationary_rows,
    score_decisions,
)
from forewarn.evaluation.replay import (
    CorpusEvaluation,
    FitFn,
    Replayer,
    ReplayResult,
    evaluate_replays,
    replay_series,
)

ProgressFn = Callable[[str, int], None]  # (series name, rows just scored)
_TICK_ROWS = 500  # report progress in chunks: a callback per row would cost more than scoring


@dataclass(frozen=True)
class Retraining:
    """When a replay refits the detector, and on how many of the latest rows."""

    every_rows: int | None = RETRAIN_EVERY_ROWS
    window_rows: int | None = RETRAIN_WINDOW_ROWS


@dataclass(frozen=True)
class SeriesFigures:
    """The per-file figures of a backtest, at the shipped decisions."""

    series: LabelledSeries
    replay: ReplayResult
    events: FileEvents
    nab_shipped: tuple[ProfileScore, ...]  # empty when the file has no scorable window

    @property
    def detected(self) -> int:
        """Windows with at least one shipped detection."""
        return sum(w.first_detection is not None for w in self.events.windows)


@dataclass(frozen=True)
class BacktestReport:
    """Every figure of one algorithm's backtest over a corpus."""

    algorithm: str
    params: Mapping[str, Any]
    retraining: Retraining
    evaluation: CorpusEvaluation
    series: tuple[SeriesFigures, ...]


def scored_rows(corpus: Sequence[LabelledSeries]) -> int:
    """Rows a replay will score (the progress total): all rows after each probation."""
    return sum(len(s.ts_ms) - probationary_rows(len(s.ts_ms)) for s in corpus)


def check_algorithm(name: str, params: Mapping[str, Any]) -> None:
    """Refuse an unknown algorithm, at ("algorithm",), or parameters its constructor does
    not take, at ("parameters", ...)."""
    fit_function(name, **params)


@dataclass
class _Counting:
    """A fit whose replayer reports its scored rows in chunks; for one series at a time."""

    fit: FitFn
    name: str
    progress: ProgressFn
    inner: Replayer | None = None
    pending: int = 0

    def __call__(self, ts: IntArray, values: FloatArray) -> _Counting:
        """Fit the wrapped detector; each refit replaces the previous replayer."""
        self.inner = self.fit(ts, values)
        return self

    def update(self, ts: int, value: float) -> tuple[float, bool]:
        """Score through the wrapped replayer, counting the row."""
        assert self.inner is not None, "update before fit"
        self.pending += 1
        if self.pending >= _TICK_ROWS:
            self.flush()
        return self.inner.update(ts, value)

    def flush(self) -> None:
        """Report the rows not reported yet."""
        if self.pending:
            self.progress(self.name, self.pending)
            self.pending = 0


def _replay(series: LabelledSeries, fit: FitFn, retraining: Retraining) -> ReplayResult:
    """Replay one series on the retraining schedule."""
    every, window = retraining.every_rows, retraining.window_rows
    return replay_series(series, fit, retrain_every_rows=every, retrain_window_rows=window)


def _replay_serial(
    corpus: Sequence[LabelledSeries], fit: FitFn, retraining: Retraining, progress: ProgressFn
) -> list[ReplayResult]:
    """Replay one series after the other, reporting rows as they are scored."""
    replays = []
    for series in corpus:
        counting = _Counting(fit, series.name, progress)
        replays.append(_replay(series, counting, retraining))
        counting.flush()
    return replays


def _replay_pool(
    corpus: Sequence[LabelledSeries],
    fit: FitFn,
    retraining: Retraining,
    progress: ProgressFn,
    workers: int,
) -> list[ReplayResult]:
    """Replay in worker processes, reporting each series when it is done."""
    run = partial(_replay, fit=fit, retraining=retraining)
    results: dict[int, ReplayResult] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run, series): k for k, series in enumerate(corpus)}
        for future in as_completed(futures):
            k = futures[future]
            results[k] = future.result()
            progress(corpus[k].name, scored_rows([corpus[k]]))
    return [results[k] for k in range(len(corpus))]


def _figures(series: LabelledSeries, replay: ReplayResult) -> SeriesFigures:
    """Per-file events and NAB scores of the shipped decisions."""
    layout = file_layout(series.ts_ms, series.windows_ms)
    events = file_events(series.name, series.ts_ms, layout, replay.is_anomaly)
    try:
        nab = score_decisions([layout], [replay.is_anomaly], PROFILES)
    except EvaluationError:
        nab = ()  # no scorable window: a per-file NAB score is undefined
    return SeriesFigures(series, replay, events, nab)


def run_backtest(
    corpus: Sequence[LabelledSeries],
    algorithm_name: str = DEFAULT_ALGORITHM,
    params: Mapping[str, Any] | None = None,
    *,
    retraining: Retraining | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> BacktestReport:
    """Replay every series with a registered algorithm and report every figure."""
    params = dict(params or {})
    retraining = retraining or Retraining()
    check_algorithm(algorithm_name, params)
    if workers < 1:
        raise InvalidInputError(("workers",), f"workers must be >= 1, got {workers}")
    fit, notify = fit_function(algorithm_name, **params), progress or (lambda _name, _rows: None)
    started = time.perf_counter()
    try:
        if workers == 1 or len(corpus) < 2:
            replays = _replay_serial(corpus, fit, retraining, notify)
        else:
            replays = _replay_pool(corpus, fit, retraining, notify, workers)
    except (TypeError, ValueError) as err:  # a detector refusing its parameters
        raise InvalidInputError(("parameters",), f"{algorithm_name} failed: {err}") from err
    wall = time.perf_counter() - started
    evaluation = evaluate_replays(corpus, replays, wall_seconds=wall)
    figures = tuple(map(_figures, corpus, replays))
    return BacktestReport(algorithm_name, params, retraining, evaluation, figures)


def _num(x: float | None) -> float | None:
    """A JSON-safe number: NaN (undefined) and infinity (never fires) become null."""
    return float(x) if x is not None and math.isfinite(x) else None


def _profile(profile: Profile, optimal: ProfileScore, shipped: ProfileScore) -> dict[str, Any]:
    """One profile's corpus scores at the optimal threshold and at the shipped decisions."""
    return {
        "weights": {"tp": profile.a_tp, "fp": profile.a_fp, "fn": profile.a_fn},
        "null": optimal.null,
        "perfect": optimal.perfect,
        "optimal": {
            "score": optimal.score,
            "raw": optimal.raw,
            "threshold": _num(optimal.threshold),
        },
        "shipped": {"score": shipped.score, "raw": shipped.raw},
    }


def _events(m: EventMetrics) -> dict[str, Any]:
    """Event-level figures."""
    return {
        "windows": m.n_windows,
        "detected": m.n_detected,
        "false_events": m.n_false_events,
        "precision": _num(m.precision),
        "recall": _num(m.recall),
        "f1": _num(m.f1),
        "median_delay_rows": _num(m.median_delay_rows),
        "median_delay_ms": _num(m.median_delay_ms),
    }


def _window(series: LabelledSeries, w: WindowEvent) -> dict[str, Any]:
    """One scorable window and its first shipped detection."""
    return {
        "start": int(series.ts_ms[w.start_row]),
        "end": int(series.ts_ms[w.end_row]),
        "start_row": w.start_row,
        "end_row": w.end_row,
        "first_detection_row": w.first_detection,
        "delay_rows": w.delay_rows,
        "delay_ms": w.delay_ms,
    }


def _series(f: SeriesFigures) -> dict[str, Any]:
    """Per-file figures."""
    return {
        "name": f.series.name,
        "category": f.series.category,
        "rows": len(f.series.ts_ms),
        "probation": f.replay.probation,
        "fits": f.replay.n_fits,
        "rows_per_second": _num(f.replay.rows_per_second),
        "detections": int(f.replay.is_anomaly.sum()),
        "nab_shipped": {p.profile: p.score for p in f.nab_shipped} or None,
        "events": _events(summarise([f.events])),
        "windows": [_window(f.series, w) for w in f.events.windows],
    }


def report_to_dict(report: BacktestReport) -> dict[str, Any]:
    """Every figure as JSON-ready data: the content of summary.json and of the API response."""
    ev = report.evaluation
    return {
        "algorithm": report.algorithm,
        "params": dict(report.params),
        "retraining": {
            "every_rows": report.retraining.every_rows,
            "window_rows": report.retraining.window_rows,
        },
        "probation": {"share": PROBATION_SHARE, "cap_rows": PROBATION_CAP},
        "nab": {
            p.name: _profile(p, o, s)
            for p, o, s in zip(PROFILES, ev.optimal, ev.shipped, strict=True)
        },
        "events": {
            "shipped": _events(ev.events_shipped),
            "optimal": {**_events(ev.events_optimal), "threshold": _num(ev.optimal[0].threshold)},
        },
        "rows": sum(len(f.series.ts_ms) for f in report.series),
        "scored_rows": scored_rows([f.series for f in report.series]),
        "wall_seconds": ev.wall_seconds,
        "rows_per_second": _num(ev.rows_per_second),
        "series": [_series(f) for f in report.series],
    }
