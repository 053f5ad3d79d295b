"""Telemetry of one device: ingest (operators) and range/bucket reads (everyone)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query
from pydantic import BeforeValidator

from forewarn.api.deps import AnyUser, Operator, RuntimeDep, SessionDep
from forewarn.api.errors import in_body
from forewarn.db.types import ms_to_datetime
from forewarn.errors import InvalidInputError
from forewarn.schemas.common import MetricName
from forewarn.schemas.telemetry import (
    IngestResult,
    Reading,
    TelemetryBucket,
    TelemetryPage,
    TelemetryPoint,
)
from forewarn.scoring.scorer import now_ms
from forewarn.services.devices import get_device
from forewarn.telemetry.query import RangeQuery, read_buckets, read_points
from forewarn.telemetry.readings import check_batch_size, parse_timestamp
from forewarn.telemetry.store import Row

router = APIRouter(prefix="/devices/{device_id}/telemetry", tags=["telemetry"])

QueryTime = Annotated[int | None, BeforeValidator(parse_timestamp)]


def _as_batch(value: object) -> object:
    """One reading is a batch of one: errors then say `body[i]` instead of union branches."""
    return [value] if isinstance(value, dict) else value


ReadingBatch = Annotated[
    list[Reading], BeforeValidator(_as_batch, json_schema_input_type=Reading | list[Reading])
]


def _to_rows(device_id: uuid.UUID, readings: list[Reading]) -> list[Row]:
    server_now = now_ms()
    return [
        Row(device_id, metric, reading.ts if reading.ts is not None else server_now, value)
        for reading in readings
        for metric, value in reading.values.items()
    ]


@router.post(
    "",
    response_model=IngestResult,
    dependencies=[Operator],
    summary="Ingest readings",
    responses={
        404: {"description": "Unknown device"},
        422: {"description": "A field is invalid; nothing was written"},
    },
)
def ingest(
    device_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    body: Annotated[ReadingBatch, Body()],
) -> IngestResult:
    """Store one reading or a list of them, all or nothing; series with an active model are
    scored in time order and their anomalies stored, in the same transaction."""
    with in_body():
        check_batch_size(len(body), runtime.settings.max_telemetry_batch)
    get_device(session, device_id)
    rows = {device_id: _to_rows(device_id, body)}
    done = runtime.pipeline.ingest(session, rows, transport="http")
    return IngestResult(
        device_id=device_id, readings=done.readings, scored=done.scored, anomalies=done.anomalies
    )


@router.get("", response_model=TelemetryPage, dependencies=[AnyUser], summary="Read telemetry")
def read(
    device_id: uuid.UUID,
    session: SessionDep,
    metric: Annotated[MetricName | None, Query(description="Only this metric")] = None,
    start: Annotated[QueryTime, Query(description="From (epoch ms or ISO 8601)")] = None,
    end: Annotated[QueryTime, Query(description="Until (epoch ms or ISO 8601)")] = None,
    interval_s: Annotated[
        int | None, Query(ge=1, le=366 * 86400, description="Bucket size for downsampling")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> TelemetryPage:
    """Readings newest first, or per-metric buckets (avg/min/max/count) with `interval_s`."""
    get_device(session, device_id)
    if start is not None and end is not None and start > end:
        raise InvalidInputError(("query", "start"), "start must not be after end")
    q = RangeQuery(device_id, metric, start, end, limit)
    if interval_s is None:
        points = [
            TelemetryPoint(metric_name=m, ts=ms_to_datetime(t), value=v)
            for m, t, v in read_points(session, q)
        ]
        return TelemetryPage(device_id=device_id, data=points, count=len(points))
    buckets = [
        TelemetryBucket(
            metric_name=b.metric_name,
            ts=ms_to_datetime(b.ts),
            avg=b.avg,
            min=b.min,
            max=b.max,
            count=b.count,
        )
        for b in read_buckets(session, q, interval_s * 1000)
    ]
    return TelemetryPage(
        device_id=device_id, interval_s=interval_s, data=buckets, count=len(buckets)
    )
