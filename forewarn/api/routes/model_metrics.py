"""Quality and latency figures of a model version (everyone)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from forewarn.api.deps import AnyUser, RuntimeDep, SessionDep
from forewarn.db.types import ms_to_datetime
from forewarn.lifecycle.due import next_retrain_at
from forewarn.lifecycle.quality import Quality, model_quality
from forewarn.schemas.lifecycle import ModelMetricsPublic, SuggestionPublic

router = APIRouter(prefix="/ml/models", tags=["ml"])


@router.get(
    "/{model_id}/metrics",
    response_model=ModelMetricsPublic,
    dependencies=[AnyUser],
    summary="Quality and latency of a model",
    responses={404: {"description": "Unknown model"}},
)
def model_metrics(
    model_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep
) -> ModelMetricsPublic:
    """False-positive rate, precision, anomalies per day, predictions, latency (mean, p95),
    and the threshold the feedback suggests."""
    runtime.usage.flush()
    return _public(model_quality(session, model_id), runtime.retrain_schedule)


def _public(q: Quality, default_schedule: str) -> ModelMetricsPublic:
    model, stored, s = q.model, q.stored, q.suggestion
    first = stored.first_scored_ts if stored else None
    last = stored.last_scored_ts if stored else None
    return ModelMetricsPublic(
        model_id=model.id,
        status=model.status,
        rejection_reason=model.rejection_reason,
        algorithm=model.algorithm,
        threshold=model.threshold,
        predictions=model.prediction_count,
        anomalies=model.anomaly_count,
        true_positives=stored.true_positives if stored else 0,
        false_positives=stored.false_positives if stored else 0,
        precision=q.precision,
        false_positive_rate=q.false_positive_rate,
        anomalies_per_day=q.anomalies_per_day,
        latency_calls=stored.latency_count if stored else 0,
        latency_mean_ms=q.latency_mean_ms,
        latency_p95_ms=q.latency_p95_ms,
        scored_from=ms_to_datetime(first) if first is not None else None,
        scored_until=ms_to_datetime(last) if last is not None else None,
        suggestion=SuggestionPublic(
            parameter=s.parameter,
            current=s.current,
            suggested=s.suggested,
            threshold=s.threshold,
            silenced_false_positives=s.silenced,
            applies="at once" if s.live else "at the next retraining",
            reason=s.reason,
        ),
        retrain_schedule=model.retrain_schedule,
        next_retrain_at=next_retrain_at(model, default_schedule) if model.is_active else None,
        evaluation=stored.evaluation if stored else None,
    )
