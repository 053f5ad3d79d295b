"""Score values with a series' active model and store the anomalies."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session

from forewarn.db.models import AnomalyDetection
from forewarn.db.types import utcnow
from forewarn.ml.registry import ActiveModel, ModelRegistry
from forewarn.ml.usage import UsageTracker


@dataclass(frozen=True)
class SeriesInput:
    """Values of one series to score, with their times (epoch ms)."""

    device_id: uuid.UUID
    metric_name: str
    values: np.ndarray
    ts_ms: np.ndarray


@dataclass(frozen=True)
class SeriesScores:
    """Scores of one series' values, in input order."""

    model: ActiveModel
    scores: np.ndarray
    is_anomaly: np.ndarray


def now_ms() -> int:
    """The server's time in epoch milliseconds."""
    return int(time.time() * 1000)


class Scorer:
    """Scores readings; one transaction per call stores every anomaly found."""

    def __init__(self, registry: ModelRegistry, usage: UsageTracker) -> None:
        self._registry = registry
        self._usage = usage

    def score_one(
        self,
        session: Session,
        device_id: uuid.UUID,
        metric_name: str,
        value: float,
        ts_ms: int | None,
    ) -> tuple[ActiveModel, float, bool]:
        """Score a single value (the hot path: no arrays, no sklearn)."""
        model = self._registry.active(session, device_id, metric_name)
        score = self._registry.detector(model).score_one(value)
        is_anomaly = score > model.threshold
        at = utcnow()
        if is_anomaly:
            session.add(_anomaly_row(model, value, score, ts_ms or now_ms(), at))
            session.commit()
        self._usage.record(model.id, 1, int(is_anomaly), at)
        return model, score, is_anomaly

    def score_many(self, session: Session, batch: Sequence[SeriesInput]) -> list[SeriesScores]:
        """Score several series; all anomalies are written in one transaction."""
        models = [self._registry.active(session, s.device_id, s.metric_name) for s in batch]
        results = []
        rows: list[dict[str, object]] = []
        at = utcnow()
        for series, model in zip(batch, models, strict=True):
            scores = self._registry.detector(model).score_many(series.values)
            flags = scores > model.threshold
            results.append(SeriesScores(model, scores, flags))
            rows.extend(_anomaly_dicts(model, series, scores, flags, at))
        if rows:
            session.execute(insert(AnomalyDetection), rows)
            session.commit()
        for result in results:
            self._usage.record(
                result.model.id, len(result.scores), int(result.is_anomaly.sum()), at
            )
        return results


def _anomaly_row(
    model: ActiveModel, value: float, score: float, ts_ms: int, at: object
) -> AnomalyDetection:
    return AnomalyDetection(
        model_id=model.id,
        device_id=model.device_id,
        metric_name=model.metric_name,
        value=value,
        anomaly_score=score,
        threshold=model.threshold,
        ts=ts_ms,
        detected_at=at,
    )


def _anomaly_dicts(
    model: ActiveModel, series: SeriesInput, scores: np.ndarray, flags: np.ndarray, at: object
) -> list[dict[str, object]]:
    return [
        {
            "id": uuid.uuid4(),
            "model_id": model.id,
            "device_id": model.device_id,
            "metric_name": model.metric_name,
            "value": float(series.values[i]),
            "anomaly_score": float(scores[i]),
            "threshold": model.threshold,
            "ts": int(series.ts_ms[i]),
            "detected_at": at,
        }
        for i in np.flatnonzero(flags)
    ]
