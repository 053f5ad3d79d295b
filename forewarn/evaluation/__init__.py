"""Benchmark evaluation: NAB corpus loading, scoring, event metrics and a no-look-ahead replay."""

from __future__ import annotations

from forewarn.evaluation.corpus import (
    LabelledSeries,
    load_corpus,
    load_profiles,
    load_series,
    load_windows,
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
from forewarn.evaluation.replay import (
    CorpusEvaluation,
    FitFn,
    Replayer,
    ReplayResult,
    evaluate_corpus,
    evaluate_replays,
    replay_series,
)

__all__ = [
    "PROFILES",
    "CorpusEvaluation",
    "EvaluationError",
    "EventMetrics",
    "FileEvents",
    "FileLayout",
    "FitFn",
    "LabelledSeries",
    "Profile",
    "ProfileScore",
    "ReplayResult",
    "Replayer",
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
    "probationary_rows",
    "replay_series",
    "score_at_threshold",
    "score_decisions",
    "summarise",
]
