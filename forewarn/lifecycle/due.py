"""Which series are due for retraining, and when each will next be.

A series is due when its schedule (the model's own, else the global one) has fired since its
last attempt: the later of the active model's creation and its last retraining attempt
(a rejected candidate or a failure counts as an attempt, so neither is retried at once).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from forewarn.db.models import MLModel
from forewarn.scheduling.cron import parse_cron


def last_attempt(model: MLModel) -> datetime:
    """When the series was last trained or retrained."""
    return max(model.created_at, model.retrained_at or model.created_at)


def due_models(session: Session, default_schedule: str, now: datetime) -> list[uuid.UUID]:
    """Active models whose schedule fired after their last attempt, longest waiting first."""
    fired: dict[str, datetime] = {}
    due: list[tuple[datetime, uuid.UUID]] = []
    for model in session.scalars(select(MLModel).where(MLModel.is_active.is_(True))):
        expression = model.retrain_schedule or default_schedule
        if expression not in fired:
            fired[expression] = parse_cron(expression).latest_at_or_before(now)
        attempt = last_attempt(model)
        if attempt < fired[expression]:
            due.append((attempt, model.id))
    return [model_id for _, model_id in sorted(due)]


def next_retrain_at(model: MLModel, default_schedule: str) -> datetime:
    """When the series will next be due."""
    expression = model.retrain_schedule or default_schedule
    return parse_cron(expression).next_after(last_attempt(model))


def chosen_models(
    session: Session,
    *,
    device_id: uuid.UUID | None = None,
    metric_name: str | None = None,
    everything: bool = False,
) -> list[uuid.UUID]:
    """Active models of every series, of one device, or of one series, oldest attempt first."""
    query = select(MLModel).where(MLModel.is_active.is_(True))
    if device_id is not None:
        query = query.where(MLModel.device_id == device_id)
    if metric_name is not None:
        query = query.where(MLModel.metric_name == metric_name)
    if not (everything or device_id is not None):
        return []
    return [m.id for m in sorted(session.scalars(query), key=last_attempt)]
