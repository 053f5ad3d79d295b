"""Schemas of the ML API (paths and payloads of the platform Forewarn replaces)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
)

from forewarn.schemas.common import TimestampMs
from forewarn.telemetry.readings import METRIC_NAME_PATTERN

EXAMPLE_DEVICE = "3f2b8c1e-8a4d-4e0b-9f6a-2c5d7e9a1b3c"

_METRIC = re.compile(f"^{METRIC_NAME_PATTERN}$")
_SERIES_HELP = (
    'a metric name (letters, digits, "_", ".", "-"; at most 64), "*", '
    "or a list of 1 to 64 metric names"
)


def _series_name(value: Any) -> str | list[str]:
    """One clear error for the three accepted forms (a union would report each branch)."""
    if isinstance(value, str) and (value == "*" or _METRIC.match(value)):
        return value
    if (
        isinstance(value, list)
        and 1 <= len(value) <= 64
        and all(isinstance(v, str) and _METRIC.match(v) for v in value)
    ):
        return list(value)
    raise ValueError(f"metric_name must be {_SERIES_HELP}")


SeriesName = Annotated[
    str | list[str],
    PlainValidator(_series_name),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _METRIC.pattern},
                {"const": "*"},
                {
                    "type": "array",
                    "items": {"type": "string", "pattern": _METRIC.pattern},
                    "minItems": 1,
                    "maxItems": 64,
                },
            ],
            "description": 'One metric; "*" for every metric of the device; or a list of '
            "metrics. The last two make one device-level model over the metrics aligned "
            "in time.",
            "examples": ["temperature", "*", ["temperature", "humidity"]],
        }
    ),
]


def series_key(metric_name: str | list[str]) -> str:
    """The stored key of a series: a metric, "*", or a sorted comma-separated list."""
    if isinstance(metric_name, list):
        return ",".join(sorted(set(metric_name)))
    return metric_name


class TrainRequest(BaseModel):
    """Train a model for one series on a window of its history."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "device_id": EXAMPLE_DEVICE,
                    "metric_name": "temperature",
                    "training_window_days": 7,
                }
            ]
        },
    )

    device_id: uuid.UUID
    metric_name: SeriesName
    training_window_days: Annotated[int, Field(ge=1, le=3650)] = 7
    contamination: Annotated[float, Field(gt=0, le=0.5)] | Literal["auto"] | None = Field(
        default=None,
        description='Isolation Forest only: expected share of anomalies, (0, 0.5] or "auto"; '
        "default: the algorithm's own (GET /api/v1/ml/algorithms).",
    )
    n_estimators: Annotated[int, Field(ge=10, le=1000)] | None = Field(
        default=None,
        description="Isolation Forest only: number of trees; default: the algorithm's own.",
    )
    training_end: TimestampMs | None = Field(
        default=None, description="End of the window; default: the series' newest reading."
    )
    algorithm: Annotated[str, Field(max_length=64)] | None = Field(
        default=None,
        description="A registered algorithm (GET /api/v1/ml/algorithms). Default: the "
        "product's default (ensemble for one metric, pca_spc for a device-level model), or "
        "isolation_forest when contamination or n_estimators is given (the replaced "
        "platform's requests keep their meaning).",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Further parameters of the chosen algorithm."
    )


class ModelPublic(BaseModel):
    """A model version and its usage."""

    model_config = ConfigDict(
        from_attributes=True,
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "id": "9b1f0c2e-4d3a-4b8e-8f1a-6c2d9e7b5a41",
                    "device_id": EXAMPLE_DEVICE,
                    "metric_name": "temperature",
                    "version": 3,
                    "algorithm": "isolation_forest",
                    "parameters": {"n_estimators": 100, "contamination": 0.01, "seed": 0},
                    "training_start": "2026-11-19T08:00:00Z",
                    "training_end": "2026-11-26T08:00:00Z",
                    "sample_count": 10080,
                    "threshold": 0.677,
                    "artifact_size": 61234,
                    "created_at": "2026-11-26T08:00:02Z",
                    "last_used_at": "2026-11-26T09:12:44Z",
                    "prediction_count": 5230,
                    "anomaly_count": 12,
                    "is_active": True,
                }
            ]
        },
    )

    id: uuid.UUID
    device_id: uuid.UUID
    metric_name: str
    version: int
    algorithm: str
    parameters: dict[str, Any]
    training_start: datetime
    training_end: datetime
    sample_count: int
    threshold: float
    artifact_size: int
    created_at: datetime
    last_used_at: datetime | None
    prediction_count: int
    anomaly_count: int
    is_active: bool


class AnomalyPublic(BaseModel):
    """A stored anomaly."""

    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "id": "5e0c1a7b-2f4d-4c3e-8b9a-0d1e2f3a4b5c",
                    "model_id": "9b1f0c2e-4d3a-4b8e-8f1a-6c2d9e7b5a41",
                    "device_id": EXAMPLE_DEVICE,
                    "metric_name": "temperature",
                    "value": 45.0,
                    "anomaly_score": 0.736,
                    "threshold": 0.677,
                    "ts": "2026-11-26T09:12:44Z",
                    "detected_at": "2026-11-26T09:12:44.120Z",
                }
            ]
        },
    )

    id: uuid.UUID
    model_id: uuid.UUID
    device_id: uuid.UUID
    metric_name: str
    value: float
    anomaly_score: float
    threshold: float
    ts: datetime
    detected_at: datetime
    explanation: dict[str, Any] | None = None
    event_id: uuid.UUID | None = Field(
        default=None, description="The event (excursion) this reading opened."
    )
    is_anomaly: bool = Field(default=True, description="A stored anomaly opened an event.")
    anomalous: bool = Field(default=True, description="A stored anomaly is inside its event.")


class AnomalyPage(BaseModel):
    """A page of anomalies and the total matching the filters."""

    data: list[AnomalyPublic]
    count: int
    limit: int
    offset: int
