"""What a health scan looks at, gathered once per scan with a few aggregate queries.

Checks never query: they read these facts, so a scan costs the same handful of queries
(and one walk of the model directory) whether there are ten models or ten thousand.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from forewarn.db.models import Device, MLModel


@dataclass(frozen=True)
class ModelFact:
    """An active model: who it serves and when it was trained and last used."""

    id: uuid.UUID
    device_id: uuid.UUID
    device_name: str
    metric_name: str
    version: int
    created_at: datetime
    last_used_at: datetime | None
    prediction_count: int


@dataclass(frozen=True)
class SeriesFact:
    """A series (device, metric) with inactive model versions kept."""

    device_id: uuid.UUID
    device_name: str
    metric_name: str
    inactive_versions: int
    inactive_bytes: int


@dataclass(frozen=True)
class StorageFact:
    """The model directory's size on disk."""

    path: str
    bytes: int
    files: int


@dataclass(frozen=True)
class Facts:
    """Everything the checks need, as of `now`."""

    now: datetime
    models_total: int
    models_active: int
    models: tuple[ModelFact, ...]  # the active models the checks' SQL conditions select
    series: tuple[SeriesFact, ...]
    storage: StorageFact


def gather(
    session: Session, model_dir: Path, now: datetime, model_filter: ColumnElement[bool] | None
) -> Facts:
    """Three queries and one directory walk."""
    counts = select(func.count(), func.count().filter(MLModel.is_active.is_(True)))
    total, active = session.execute(counts.select_from(MLModel)).one()
    return Facts(
        now=now,
        models_total=int(total),
        models_active=int(active or 0),
        models=() if model_filter is None else _active_models(session, model_filter),
        series=_inactive_series(session),
        storage=directory_size(model_dir),
    )


def _active_models(session: Session, model_filter: ColumnElement[bool]) -> tuple[ModelFact, ...]:
    rows = session.execute(
        select(
            MLModel.id,
            MLModel.device_id,
            Device.name,
            MLModel.metric_name,
            MLModel.version,
            MLModel.created_at,
            MLModel.last_used_at,
            MLModel.prediction_count,
        )
        .join(Device, Device.id == MLModel.device_id)
        .where(MLModel.is_active.is_(True), model_filter)
    )
    return tuple(ModelFact(*row) for row in rows)


def _inactive_series(session: Session) -> tuple[SeriesFact, ...]:
    rows = session.execute(
        select(
            MLModel.device_id,
            Device.name,
            MLModel.metric_name,
            func.count(),
            func.coalesce(func.sum(MLModel.artifact_size), 0),
        )
        .join(Device, Device.id == MLModel.device_id)
        .where(MLModel.is_active.is_(False))
        .group_by(MLModel.device_id, Device.name, MLModel.metric_name)
    )
    return tuple(SeriesFact(d, n, m, int(c), int(b)) for d, n, m, c, b in rows)


def directory_size(root: Path) -> StorageFact:
    """Bytes and files under `root` (symbolic links are not followed); 0 if it is missing."""
    total = files = 0
    stack = [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as found:
                entries = list(found)
        except OSError:  # missing, or removed while we walk
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
                    files += 1
            except OSError:
                continue
    return StorageFact(str(root.resolve()), total, files)
