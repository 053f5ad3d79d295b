"""Operators' feedback on anomalies (operators)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from forewarn.api.deps import CurrentUser, Operator, RuntimeDep, SessionDep
from forewarn.lifecycle.feedback import record_feedback
from forewarn.lifecycle.quality import apply_live
from forewarn.schemas.lifecycle import FeedbackCreate, FeedbackPublic

router = APIRouter(prefix="/ml/anomalies", tags=["ml"])


@router.post(
    "/{anomaly_id}/feedback",
    response_model=FeedbackPublic,
    dependencies=[Operator],
    summary="Label an anomaly",
    responses={
        404: {"description": "Unknown anomaly"},
        422: {"description": "Invalid label or comment"},
    },
)
def post_feedback(
    anomaly_id: uuid.UUID,
    body: FeedbackCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    user: CurrentUser,
) -> FeedbackPublic:
    """Say whether an anomaly was a real incident; posting again replaces the label. With
    auto-tuning on, false positives may raise the model's threshold at once."""
    recorded = record_feedback(session, anomaly_id, body.label, body.comment, user.id)
    applied = None
    if runtime.settings.auto_tune_thresholds:
        found = apply_live(session, runtime.registry, recorded.anomaly.model_id)
        applied = found.threshold if found is not None else None
    feedback, anomaly = recorded.feedback, recorded.anomaly
    return FeedbackPublic(
        id=feedback.id,
        anomaly_id=anomaly.id,
        model_id=anomaly.model_id,
        label=body.label,
        comment=feedback.comment,
        user_id=feedback.user_id,
        created_at=feedback.created_at,
        updated_at=feedback.updated_at,
        threshold_applied=applied,
    )
