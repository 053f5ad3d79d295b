"""Benchmark evaluation: labelled files (NAB or multi-sensor), NAB, event and point-wise
scoring, and a no-look-ahead replay."""

from __future__ import annotations

from forewarn.evaluation.corpus import (
    LabelledSeries,
    load_corpus,
    load_profiles,
    load_series,
    load_windows,
    scoring_layout,
    with_training,
)
from forewarn.evaluation.events import EventMetrics, FileEvents, WindowEvent, file_events, summarise
from forewarn.evaluation.nab import (
    PROFILES,
    EvaluationError,
    FileLayout,
    Profile,
    ProfileScore,
    file_layout,
    file_score,
    optimise_threshold,
    probationary_rows,
    score_at_threshold,
    score_decisions,
)
from forewarn.evaluation.pointwise import PointwiseMetrics, pointwise
from forewarn.evaluation.replay import (
    CorpusEvaluation,
    FitFn,
    Replayer,
    ReplayResult,
    Verdict,
    evaluate_corpus,
    evaluate_replays,
    replay_series,
)
from forewarn.evaluation.series_csv import SeriesTable, read_series_csv

__all__ = [
    "PROFILES",
    "CorpusEvaluation",
    "EvaluationError",
    "EventMetrics",
    "FileEvents",
    "FileLayout",
    "FitFn",
    "LabelledSeries",
    "PointwiseMetrics",
    "Profile",
    "ProfileScore",
    "ReplayResult",
    "Replayer",
    "SeriesTable",
    "Verdict",
    "WindowEvent",
    "evaluate_corpus",
    "evaluate_replays",
    "file_events",
    "file_layout",
    "file_score",
    "load_corpus",
    "load_profiles",
    "load_series",
    "load_windows",
    "optimise_threshold",
    "pointwise",
    "probationary_rows",
    "read_series_csv",
    "replay_series",
    "score_at_threshold",
    "score_decisions",
    "scoring_layout",
    "summarise",
    "with_training",
]
