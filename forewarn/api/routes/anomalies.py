"""Stored anomalies, filtered and paginated (everyone)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from forewarn.api.deps import AnyUser, SessionDep
from forewarn.api.routes.telemetry import QueryTime
from forewarn.db.types import ms_to_datetime
from forewarn.errors import InvalidInputError
from forewarn.lifecycle.catalog import AnomalyFilter, list_anomalies
from forewarn.schemas.common import MetricName
from forewarn.schemas.ml import AnomalyPage, AnomalyPublic

router = APIRouter(prefix="/ml/anomalies", tags=["ml"], dependencies=[AnyUser])


@router.get("", response_model=AnomalyPage, summary="List anomalies")
def anomalies(
    session: SessionDep,
    device_id: uuid.UUID | None = None,
    metric_name: Annotated[MetricName | None, Query()] = None,
    since: Annotated[QueryTime, Query(description="Readings at or after (epoch ms / ISO)")] = None,
    until: Annotated[QueryTime, Query(description="Readings at or before (epoch ms / ISO)")] = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AnomalyPage:
    """Anomalies, newest reading first, with the total count matching the filters."""
    if since is not None and until is not None and since > until:
        raise InvalidInputError(("query", "since"), "since must not be after until")
    flt = AnomalyFilter(device_id, metric_name, since, until, min_score)
    rows, total = list_anomalies(session, flt, limit, offset)
    data = [
        AnomalyPublic(
            id=r.id,
            model_id=r.model_id,
            device_id=r.device_id,
            metric_name=r.metric_name,
            value=r.value,
            anomaly_score=r.anomaly_score,
            threshold=r.threshold,
            ts=ms_to_datetime(r.ts),
            detected_at=r.detected_at,
            explanation=r.explanation,
            event_id=r.event_id,
        )
        for r in rows
    ]
    return AnomalyPage(data=data, count=total, limit=limit, offset=offset)
