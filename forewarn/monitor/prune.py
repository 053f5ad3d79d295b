"""Delete inactive model versions beyond the newest N of each series, with their artifacts.

The active model of a series is never touched. A deleted version takes its anomalies with
it (the table's foreign key cascades), so a plan says how many go.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from forewarn.db.models import AnomalyDetection, MLModel
from forewarn.scoring.registry import ModelRegistry

_LOGGER = logging.getLogger(__name__)
_CHUNK = 2000


@dataclass(frozen=True)
class PrunedModel:
    """An inactive version chosen for deletion."""

    id: uuid.UUID
    device_id: uuid.UUID
    metric_name: str
    version: int
    artifact_path: str
    artifact_size: int
    anomalies: int


def plan_prune(session: Session, keep: int) -> list[PrunedModel]:
    """The inactive versions past the newest `keep` of each series, oldest series first."""
    rank = func.row_number().over(
        partition_by=(MLModel.device_id, MLModel.metric_name), order_by=MLModel.version.desc()
    )
    ranked = (
        select(
            MLModel.id,
            MLModel.device_id,
            MLModel.metric_name,
            MLModel.version,
            MLModel.artifact_path,
            MLModel.artifact_size,
            rank.label("rank"),
        )
        .where(MLModel.is_active.is_(False))
        .subquery()
    )
    rows = session.execute(
        select(
            ranked.c.id,
            ranked.c.device_id,
            ranked.c.metric_name,
            ranked.c.version,
            ranked.c.artifact_path,
            ranked.c.artifact_size,
        )
        .where(ranked.c.rank > keep)
        .order_by(ranked.c.device_id, ranked.c.metric_name, ranked.c.version)
    ).all()
    anomalies = _anomaly_counts(session, [row[0] for row in rows])
    return [PrunedModel(*row, anomalies=anomalies.get(row[0], 0)) for row in rows]


def _anomaly_counts(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    counts: dict[uuid.UUID, int] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(AnomalyDetection.model_id, func.count())
            .where(AnomalyDetection.model_id.in_(ids[start : start + _CHUNK]))
            .group_by(AnomalyDetection.model_id)
        )
        counts.update((model_id, int(count)) for model_id, count in rows)
    return counts


def prune(
    session: Session, registry: ModelRegistry, keep: int, *, dry_run: bool = False
) -> list[PrunedModel]:
    """Delete the planned versions in one transaction, then their artifact files."""
    plan = plan_prune(session, keep)
    if dry_run or not plan:
        return plan
    ids = [model.id for model in plan]
    for start in range(0, len(ids), _CHUNK):
        session.execute(
            delete(MLModel).where(
                MLModel.id.in_(ids[start : start + _CHUNK]), MLModel.is_active.is_(False)
            ),
            execution_options={"synchronize_session": False},
        )
    session.commit()
    for model in plan:
        registry.forget(model.id)
        if model.artifact_path:
            try:
                (registry.model_dir / model.artifact_path).unlink(missing_ok=True)
            except OSError as err:  # the rows are gone; a stray file is only disk space
                _LOGGER.warning("could not delete artifact %s: %s", model.artifact_path, err)
    return plan
