"""Backtest a registered detector on labelled series (``forewarn evaluate``, ``/ml/evaluate``).

Each series is replayed without look-ahead on the product's retraining schedule, then scored
with NAB (every profile, at the corpus-optimal threshold and at the shipped decisions) and
with event-level metrics.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from forewarn.detection.registry import DEFAULT_ALGORITHM
from forewarn.errors import InvalidInputError
from forewarn.evaluation.corpus import LabelledSeries, scoring_layout
from forewarn.evaluation.detectors import fit_function
from forewarn.evaluation.events import EventMetrics, FileEvents, WindowEvent, file_events, summarise
from forewarn.evaluation.nab import (
    PROBATION_CAP,
    PROBATION_SHARE,
    PROFILES,
    EvaluationError,
    Profile,
    ProfileScore,
    score_decisions,
)
from forewarn.evaluation.pointwise import PointwiseMetrics, pointwise
from forewarn.evaluation.replay import CorpusEvaluation, ReplayResult, evaluate_replays
from forewarn.evaluation.runner import Algorithm, ProgressFn, Retraining, replay_all, scored_rows

__all__ = [
    "BacktestReport",
    "Retraining",
    "SeriesFigures",
    "check_algorithm",
    "report_to_dict",
    "run_backtest",
    "scored_rows",
]


@dataclass(frozen=True)
class SeriesFigures:
    """The per-file figures of a backtest, at the shipped decisions."""

    series: LabelledSeries
    replay: ReplayResult
    events: FileEvents  # on is_anomaly
    nab_shipped: tuple[ProfileScore, ...]  # empty when NAB is undefined for the file
    pointwise: PointwiseMetrics  # on anomalous

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


def check_algorithm(name: str, params: Mapping[str, Any]) -> None:
    """Refuse an unknown algorithm, at ("algorithm",), or parameters its constructor does
    not take, at ("parameters", ...)."""
    fit_function(name, **params)


def _figures(series: LabelledSeries, replay: ReplayResult) -> SeriesFigures:
    """Per-file events, NAB scores and point-wise figures of the shipped decisions."""
    layout = scoring_layout(series)
    events = file_events(series.name, series.ts_ms, layout, replay.is_anomaly)
    nab: tuple[ProfileScore, ...] = ()
    # Without a scorable window a per-file NAB score is undefined: it stays empty.
    with contextlib.suppress(EvaluationError):
        if series.nab_scorable:
            nab = score_decisions([layout], [replay.is_anomaly], PROFILES)
    return SeriesFigures(series, replay, events, nab, pointwise(replay.anomalous, layout))


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
    notify = progress or (lambda _name, _rows: None)
    started = time.perf_counter()
    try:
        replays = replay_all(corpus, Algorithm(algorithm_name, params), retraining, notify, workers)
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


def _pointwise(m: PointwiseMetrics) -> dict[str, Any]:
    """Point-wise counts and figures (rates in %)."""
    return {
        "tp": m.tp,
        "fp": m.fp,
        "fn": m.fn,
        "tn": m.tn,
        "precision": _num(m.precision),
        "recall": _num(m.recall),
        "f1": _num(m.f1),
        "false_alarm_rate": _num(m.false_alarm_rate),
        "missed_alarm_rate": _num(m.missed_alarm_rate),
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
        "metrics": list(f.series.metrics),
        "rows": len(f.series.ts_ms),
        "probation": f.replay.probation,
        "fits": f.replay.n_fits,
        "rows_per_second": _num(f.replay.rows_per_second),
        "detections": int(f.replay.is_anomaly.sum()),
        "anomalous_rows": int(f.replay.anomalous.sum()),
        "nab_shipped": {p.profile: p.score for p in f.nab_shipped} or None,
        "events": _events(summarise([f.events])),
        "pointwise": _pointwise(f.pointwise),
        "windows": [_window(f.series, w) for w in f.events.windows],
    }


def _nab(ev: CorpusEvaluation) -> dict[str, Any] | None:
    """Every profile's scores, or None where NAB is undefined (see `nab_scorable`)."""
    if not ev.has_nab:
        return None
    return {
        p.name: _profile(p, o, s) for p, o, s in zip(PROFILES, ev.optimal, ev.shipped, strict=True)
    }


def _events_optimal(ev: CorpusEvaluation) -> dict[str, Any] | None:
    """Events at the standard profile's optimal threshold, or None without NAB."""
    if ev.events_optimal is None or not ev.optimal:
        return None
    return {**_events(ev.events_optimal), "threshold": _num(ev.optimal[0].threshold)}


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
        "nab": _nab(ev),
        "events": {"shipped": _events(ev.events_shipped), "optimal": _events_optimal(ev)},
        "pointwise": _pointwise(ev.pointwise),
        "rows": sum(len(f.series.ts_ms) for f in report.series),
        "scored_rows": scored_rows([f.series for f in report.series]),
        "wall_seconds": ev.wall_seconds,
        "rows_per_second": _num(ev.rows_per_second),
        "series": [_series(f) for f in report.series],
    }
