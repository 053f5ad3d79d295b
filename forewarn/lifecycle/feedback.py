"""Operators' verdicts on anomalies: stored once per anomaly (posting again replaces it),
counted per model, and read back per series as confirmed windows and known false positives.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forewarn.db.models import AnomalyDetection, AnomalyFeedback
from forewarn.db.types import utcnow
from forewarn.errors import ConflictError, NotFoundError
from forewarn.scoring.latency import metrics_row

Label = Literal["true_positive", "false_positive"]
TRUE_POSITIVE: Label = "true_positive"
FALSE_POSITIVE: Label = "false_positive"
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Recorded:
    """The stored feedback, the anomaly it is about, and whether it is new."""

    feedback: AnomalyFeedback
    anomaly: AnomalyDetection
    created: bool


def record_feedback(
    session: Session,
    anomaly_id: uuid.UUID,
    label: Label,
    comment: str | None,
    user_id: uuid.UUID | None,
) -> Recorded:
    """Store (or replace) the verdict on an anomaly and recount its model's labels; commits."""
    anomaly = session.get(AnomalyDetection, anomaly_id)
    if anomaly is None:
        raise NotFoundError("anomaly", anomaly_id)
    row = session.scalar(select(AnomalyFeedback).where(AnomalyFeedback.anomaly_id == anomaly_id))
    created = row is None
    if row is None:
        row = AnomalyFeedback(anomaly_id=anomaly_id, created_at=utcnow())
        session.add(row)
    row.label, row.comment, row.user_id, row.updated_at = label, comment, user_id, utcnow()
    try:
        session.flush()
        recount(session, anomaly.model_id)
        session.commit()
    except IntegrityError as err:  # another request labelled the same anomaly just now
        session.rollback()
        raise ConflictError("this anomaly was labelled at the same moment; retry") from err
    return Recorded(row, anomaly, created)


def label_counts(session: Session, model_id: uuid.UUID) -> dict[str, int]:
    """How many of a model's anomalies carry each label."""
    query = (
        select(AnomalyFeedback.label, func.count())
        .join(AnomalyDetection, AnomalyDetection.id == AnomalyFeedback.anomaly_id)
        .where(AnomalyDetection.model_id == model_id)
        .group_by(AnomalyFeedback.label)
    )
    return {label: int(count) for label, count in session.execute(query)}


def recount(session: Session, model_id: uuid.UUID) -> None:
    """Store a model's true/false-positive counts in its metrics row."""
    counts = label_counts(session, model_id)
    row = metrics_row(session, model_id)
    row.true_positives = counts.get(TRUE_POSITIVE, 0)
    row.false_positives = counts.get(FALSE_POSITIVE, 0)
    row.updated_at = utcnow()


def labelled_scores(session: Session, model_id: uuid.UUID) -> tuple[list[float], list[float]]:
    """Scores of a model's anomalies labelled (true positive, false positive)."""
    query = (
        select(AnomalyFeedback.label, AnomalyDetection.anomaly_score)
        .join(AnomalyDetection, AnomalyDetection.id == AnomalyFeedback.anomaly_id)
        .where(AnomalyDetection.model_id == model_id)
    )
    scores: dict[str, list[float]] = {TRUE_POSITIVE: [], FALSE_POSITIVE: []}
    for label, score in session.execute(query):
        scores[label].append(float(score))
    return scores[TRUE_POSITIVE], scores[FALSE_POSITIVE]


def _labelled_times(
    session: Session, device_id: uuid.UUID, metric_name: str, label: Label
) -> list[int]:
    query = (
        select(AnomalyDetection.ts)
        .join(AnomalyFeedback, AnomalyFeedback.anomaly_id == AnomalyDetection.id)
        .where(
            AnomalyDetection.device_id == device_id,
            AnomalyDetection.metric_name == metric_name,
            AnomalyFeedback.label == label,
        )
        .order_by(AnomalyDetection.ts)
    )
    return [int(ts) for ts in session.scalars(query)]


def confirmed_windows(
    session: Session, device_id: uuid.UUID, metric_name: str, window_minutes: int
) -> list[tuple[int, int]]:
    """Confirmed incidents of a series (any model version) as merged, inclusive ms ranges
    of `window_minutes` either side of each confirmed anomaly."""
    half = window_minutes * MINUTE_MS
    merged: list[tuple[int, int]] = []
    for ts in _labelled_times(session, device_id, metric_name, TRUE_POSITIVE):
        start, end = ts - half, ts + half
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def false_positive_times(session: Session, device_id: uuid.UUID, metric_name: str) -> list[int]:
    """Times of readings operators marked as false positives, for a series."""
    return _labelled_times(session, device_id, metric_name, FALSE_POSITIVE)
