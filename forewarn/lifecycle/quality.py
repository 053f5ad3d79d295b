"""Quality of one model version from its usage, latency and feedback, and the threshold that
its false positives suggest.

The suggestion only ever raises the decision level: feedback marks what was reported, so it
shows false alarms but never the incidents a model missed. It raises the threshold to just
silence the false positives that scored below every confirmed incident, so no confirmed
incident would have been lost. How the threshold reaches the model depends on the algorithm
(the table `KNOBS`): most decide on the model's stored threshold, which can change at once;
the ensemble's own decision layer takes its level from `decades` at fit, so it changes at the
next retraining.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from forewarn.db.models import MLModel, ModelMetrics
from forewarn.detection.likelihood import D_HALF
from forewarn.errors import NotFoundError
from forewarn.lifecycle.feedback import labelled_scores
from forewarn.scoring.latency import mean_and_p95_ms, stored_tally
from forewarn.scoring.registry import ModelRegistry

DAY_MS = 86_400_000
MAX_SCORE = 1.0  # a reading outside the known range scores exactly this: no threshold helps


@dataclass(frozen=True)
class Knob:
    """How a threshold in score units reaches the decision of some algorithms."""

    algorithms: tuple[str, ...]
    parameter: str
    live: bool  # True: the model's stored threshold decides, a change applies at once
    from_threshold: Callable[[float], float]


def _decades(threshold: float) -> float:
    """Inverse of decades_score: the likelihood decades whose score is `threshold`."""
    return D_HALF * threshold / (1.0 - threshold)


KNOBS: tuple[Knob, ...] = (
    Knob(
        (
            "isolation_forest",
            "robust_zscore",
            "windowed_forest",
            "seasonal_profile",
            "rare_level",
            "surprise_rate",
            "robust_likelihood",
            "forest_likelihood",
        ),
        "threshold",
        True,
        lambda t: t,
    ),
    Knob(("ensemble",), "decades", False, _decades),
)


def knob(algorithm: str) -> Knob:
    """The knob of an algorithm (the stored threshold for any algorithm not listed)."""
    return next((k for k in KNOBS if algorithm in k.algorithms), KNOBS[0])


@dataclass(frozen=True)
class Suggestion:
    """A better decision level for a model, in score units and as its algorithm's parameter."""

    parameter: str
    current: float
    suggested: float
    threshold: float
    silenced: int  # reported false positives the suggested level would not have reported
    live: bool
    reason: str


def suggest_threshold(
    current: float, true_scores: Sequence[float], false_scores: Sequence[float]
) -> tuple[float, int, str]:
    """(threshold, false positives silenced, why): the highest false-positive score below
    every confirmed incident's score, if above `current`; else `current`."""
    if not false_scores:
        return current, 0, "no false positives reported"
    ceiling = min(true_scores, default=MAX_SCORE)
    candidates = [s for s in false_scores if current < s < min(ceiling, MAX_SCORE)]
    if not candidates:
        return (
            current,
            0,
            (
                f"the {len(false_scores)} false positives score as high as a confirmed incident "
                "or leave the known range; a threshold cannot separate them"
            ),
        )
    level = max(candidates)
    silenced = sum(s <= level for s in false_scores)
    kept = f"; all {len(true_scores)} confirmed incidents score higher" if true_scores else ""
    return (
        level,
        silenced,
        (
            f"at {level:.4f} instead of {current:.4f}, {silenced} of {len(false_scores)} "
            f"false positives would not have been reported{kept}"
        ),
    )


def suggestion(session: Session, model: MLModel) -> Suggestion:
    """The suggestion for a model from the feedback on its own anomalies."""
    spec = knob(model.algorithm)
    true_scores, false_scores = labelled_scores(session, model.id)
    level, silenced, reason = suggest_threshold(model.threshold, true_scores, false_scores)
    current = spec.from_threshold(model.threshold)
    suggested = spec.from_threshold(level) if silenced else current
    return Suggestion(spec.parameter, current, suggested, level, silenced, spec.live, reason)


def apply_live(session: Session, registry: ModelRegistry, model_id: uuid.UUID) -> Suggestion | None:
    """Raise an active model's stored threshold to the suggestion where that applies at once;
    returns the applied suggestion, or None. Commits."""
    model = session.get(MLModel, model_id)
    if model is None or not model.is_active:
        return None
    found = suggestion(session, model)
    if not (found.live and found.silenced):
        return None
    model.threshold = found.threshold
    session.commit()
    registry.invalidate(model.device_id, model.metric_name)
    return found


@dataclass(frozen=True)
class Quality:
    """Every figure of one model version."""

    model: MLModel
    stored: ModelMetrics | None
    precision: float | None
    false_positive_rate: float | None
    anomalies_per_day: float | None
    latency_mean_ms: float | None
    latency_p95_ms: float | None
    suggestion: Suggestion


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def model_quality(session: Session, model_id: uuid.UUID) -> Quality:
    """A model's figures from its row, its stored metrics and its feedback."""
    model = session.get(MLModel, model_id)
    if model is None:
        raise NotFoundError("model", model_id)
    stored = session.get(ModelMetrics, model_id)
    tp = stored.true_positives if stored else 0
    fp = stored.false_positives if stored else 0
    span = None
    if stored and stored.first_scored_ts is not None and stored.last_scored_ts is not None:
        span = (stored.last_scored_ts - stored.first_scored_ts) / DAY_MS
    mean, p95 = mean_and_p95_ms(stored_tally(stored)) if stored else (None, None)
    return Quality(
        model=model,
        stored=stored,
        precision=_ratio(tp, tp + fp),
        false_positive_rate=_ratio(fp, model.prediction_count),
        anomalies_per_day=_ratio(model.anomaly_count, span or 0.0),
        latency_mean_ms=mean,
        latency_p95_ms=p95,
        suggestion=suggestion(session, model),
    )
