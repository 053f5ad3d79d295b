"""Read and retire model versions; read stored anomalies."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from forewarn.db.models import AnomalyDetection, MLModel
from forewarn.errors import NotFoundError
from forewarn.scoring.registry import ModelRegistry


@dataclass(frozen=True)
class ModelFilter:
    """Filters of GET /ml/models."""

    device_id: uuid.UUID | None = None
    metric_name: str | None = None
    active: bool | None = None


@dataclass(frozen=True)
class AnomalyFilter:
    """Filters of GET /ml/anomalies (times in epoch ms)."""

    device_id: uuid.UUID | None = None
    metric_name: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    min_score: float | None = None


def _count(session: Session, query: Select) -> int:  # type: ignore[type-arg]
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def list_models(
    session: Session, flt: ModelFilter, limit: int, offset: int
) -> tuple[list[MLModel], int]:
    """A page of model versions, newest first, and the total."""
    query = select(MLModel)
    if flt.device_id is not None:
        query = query.where(MLModel.device_id == flt.device_id)
    if flt.metric_name is not None:
        query = query.where(MLModel.metric_name == flt.metric_name)
    if flt.active is not None:
        query = query.where(MLModel.is_active.is_(flt.active))
    rows = session.scalars(
        query.order_by(MLModel.created_at.desc(), MLModel.version.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), _count(session, query)


def get_model(session: Session, model_id: uuid.UUID) -> MLModel:
    """One model version, or NotFoundError."""
    model = session.get(MLModel, model_id)
    if model is None:
        raise NotFoundError("model", model_id)
    return model


def retire_model(
    session: Session, registry: ModelRegistry, model_id: uuid.UUID, purge: bool
) -> MLModel:
    """Deactivate a model; with purge also delete its artifact file."""
    model = get_model(session, model_id)
    model.is_active = False
    path = registry.model_dir / model.artifact_path if model.artifact_path else None
    if purge:
        model.artifact_path = ""
        model.artifact_size = 0
    session.commit()
    registry.invalidate(model.device_id, model.metric_name)
    if purge and path is not None:
        path.unlink(missing_ok=True)
        registry.forget(model.id)
    return model


def list_anomalies(
    session: Session, flt: AnomalyFilter, limit: int, offset: int
) -> tuple[list[AnomalyDetection], int]:
    """A page of anomalies, newest reading first, and the total."""
    query = select(AnomalyDetection)
    if flt.device_id is not None:
        query = query.where(AnomalyDetection.device_id == flt.device_id)
    if flt.metric_name is not None:
        query = query.where(AnomalyDetection.metric_name == flt.metric_name)
    if flt.since_ms is not None:
        query = query.where(AnomalyDetection.ts >= flt.since_ms)
    if flt.until_ms is not None:
        query = query.where(AnomalyDetection.ts <= flt.until_ms)
    if flt.min_score is not None:
        query = query.where(AnomalyDetection.anomaly_score >= flt.min_score)
    rows = session.scalars(
        query.order_by(AnomalyDetection.ts.desc(), AnomalyDetection.id).limit(limit).offset(offset)
    )
    return list(rows), _count(session, query)


def purge_device_artifacts(registry: ModelRegistry, device_id: uuid.UUID) -> None:
    """Forget a removed device's cached models and delete its artifact files."""
    registry.invalidate_device(device_id)
    folder = registry.model_dir / str(device_id)
    if folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
