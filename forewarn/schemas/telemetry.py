"""Telemetry schemas: readings in, points and buckets out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from forewarn.schemas.common import FiniteFloat, MetricName, TimestampMs
from forewarn.telemetry.readings import MAX_METRICS_PER_READING


class Reading(BaseModel):
    """One timestamped set of metric values from a device (the rule of `pipeline.readings`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"ts": 1730000000000, "values": {"temperature": 25.1, "humidity": 55}}]
        },
    )

    ts: TimestampMs | None = Field(
        default=None, description="Epoch ms or ISO 8601; omitted means server time."
    )
    values: Annotated[
        dict[MetricName, FiniteFloat], Field(min_length=1, max_length=MAX_METRICS_PER_READING)
    ]


class IngestResult(BaseModel):
    """How many readings (metric values) were stored."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"device_id": "3f2b8c1e-8a4d-4e0b-9f6a-2c5d7e9a1b3c", "readings": 3}]
        }
    )

    device_id: uuid.UUID
    readings: int = Field(description="Number of metric values written.")
    scored: int = Field(default=0, description="Readings scored by an active model.")
    anomalies: int = Field(default=0, description="Anomalies found among them.")


class TelemetryPoint(BaseModel):
    """One stored value."""

    metric_name: str
    ts: datetime
    value: float


class TelemetryBucket(BaseModel):
    """Aggregate of one metric over one time bucket (ts is the bucket start)."""

    metric_name: str
    ts: datetime
    avg: float
    min: float
    max: float
    count: int


class TelemetryPage(BaseModel):
    """Raw points, or buckets when an interval was asked for."""

    device_id: uuid.UUID
    interval_s: int | None = None
    data: list[TelemetryPoint] | list[TelemetryBucket]
    count: int
