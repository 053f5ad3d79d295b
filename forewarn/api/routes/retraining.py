"""A series' own retraining schedule (operators set it, everyone reads it)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from forewarn.api.deps import AnyUser, Operator, RuntimeDep, SessionDep
from forewarn.db.models import MLModel
from forewarn.lifecycle.catalog import get_model
from forewarn.lifecycle.due import next_retrain_at
from forewarn.schemas.lifecycle import SchedulePublic, ScheduleUpdate

router = APIRouter(prefix="/ml/models", tags=["ml"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown model"}}


def _public(model: MLModel, default_schedule: str) -> SchedulePublic:
    return SchedulePublic(
        model_id=model.id,
        retrain_schedule=model.retrain_schedule,
        effective_schedule=model.retrain_schedule or default_schedule,
        next_retrain_at=next_retrain_at(model, default_schedule) if model.is_active else None,
    )


@router.get(
    "/{model_id}/retrain-schedule",
    response_model=SchedulePublic,
    dependencies=[AnyUser],
    summary="Get a model's retraining schedule",
    responses=_NOT_FOUND,
)
def get_schedule(model_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep) -> SchedulePublic:
    """The schedule that applies to the model's series, and when it next retrains."""
    return _public(get_model(session, model_id), runtime.retrain_schedule)


@router.put(
    "/{model_id}/retrain-schedule",
    response_model=SchedulePublic,
    dependencies=[Operator],
    summary="Set a model's retraining schedule",
    responses={**_NOT_FOUND, 422: {"description": "Not a valid cron expression"}},
)
def put_schedule(
    model_id: uuid.UUID, body: ScheduleUpdate, session: SessionDep, runtime: RuntimeDep
) -> SchedulePublic:
    """A cron expression (UTC) for this series, or null for the global schedule; retrained
    versions keep it."""
    model = get_model(session, model_id)
    model.retrain_schedule = body.retrain_schedule
    session.commit()
    return _public(model, runtime.retrain_schedule)
