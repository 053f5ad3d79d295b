"""Schemas of scoring: one reading (`POST /ml/predict`) and many (`POST /ml/predict/batch`),
with the verdict's event fields (`is_anomaly`, `anomalous`, `event_id`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from forewarn.schemas.common import FiniteFloat, MetricName, TimestampMs
from forewarn.schemas.ml import EXAMPLE_DEVICE, SeriesName


class PredictRequest(BaseModel):
    """Score one value of one series."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"device_id": EXAMPLE_DEVICE, "metric_name": "temperature", "value": 45.0}]
        },
    )

    device_id: uuid.UUID
    metric_name: SeriesName
    value: FiniteFloat | None = Field(default=None, description="The reading of one metric.")
    values: dict[MetricName, FiniteFloat] | None = Field(
        default=None, description="Device-level models: one reading per metric."
    )
    timestamp: TimestampMs | None = Field(
        default=None, description="Time of the reading; default: server time. It is stored."
    )

    @model_validator(mode="after")
    def _one_reading(self) -> PredictRequest:
        if (self.value is None) == (self.values is None):
            raise ValueError("send exactly one of `value` (one metric) or `values` (device-level)")
        return self


class PredictResponse(BaseModel):
    """The verdict on one value: score in 0..1, higher is more anomalous."""

    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "is_anomaly": True,
                    "anomaly_score": 0.736,
                    "threshold": 0.677,
                    "model_id": "9b1f0c2e-4d3a-4b8e-8f1a-6c2d9e7b5a41",
                    "model_version": 3,
                    "anomalous": True,
                    "event_id": "0f6f1d52-8d0e-5b4c-9a51-3f3c2d7e6a10",
                }
            ]
        },
    )

    is_anomaly: bool = Field(description="The reading opens a new event to report.")
    anomaly_score: float = Field(description="The model's own score, never lowered.")
    threshold: float
    model_id: uuid.UUID
    model_version: int
    anomalous: bool = Field(
        default=False,
        description="The reading lies inside an excursion (true while it lasts, with hysteresis).",
    )
    event_id: uuid.UUID | None = Field(
        default=None, description="The excursion the reading belongs to (null outside one)."
    )
    warming_up: bool = Field(
        default=False, description="The model has too little recent history to judge yet."
    )
    explanation: dict[str, Any] | None = Field(
        default=None, description="Why the reading is anomalous (only on anomalies)."
    )


class SeriesValues(BaseModel):
    """Many values of one series, columnar (the fast form of a batch)."""

    model_config = ConfigDict(extra="forbid")

    device_id: uuid.UUID
    metric_name: MetricName
    values: Annotated[list[FiniteFloat], Field(min_length=1)]
    timestamps: list[TimestampMs] | None = Field(
        default=None,
        description="One per value, needed when there is more than one value: readings are "
        "scored in time order and stored.",
    )

    @model_validator(mode="after")
    def _same_length(self) -> SeriesValues:
        if self.timestamps is not None and len(self.timestamps) != len(self.values):
            raise ValueError("timestamps must have as many entries as values")
        return self


class BatchPredictRequest(BaseModel):
    """Many values in one call: `items` (one object per value) or `series` (columnar)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"device_id": EXAMPLE_DEVICE, "metric_name": "temperature", "value": 24.8}
                    ]
                },
                {
                    "series": [
                        {
                            "device_id": EXAMPLE_DEVICE,
                            "metric_name": "temperature",
                            "values": [24.8, 25.0, 45.0],
                        }
                    ]
                },
            ]
        },
    )

    items: list[PredictRequest] | None = None
    series: list[SeriesValues] | None = None

    @model_validator(mode="after")
    def _exactly_one_form(self) -> BatchPredictRequest:
        if (self.items is None) == (self.series is None):
            raise ValueError("send exactly one of `items` or `series`")
        return self


class SeriesPrediction(BaseModel):
    """Columnar verdicts for one series, in the order of its values."""

    model_config = ConfigDict(protected_namespaces=())

    device_id: uuid.UUID
    metric_name: str
    model_id: uuid.UUID
    model_version: int
    threshold: float
    anomaly_scores: list[float]
    is_anomaly: list[bool]
    anomalous: list[bool] = Field(default_factory=list, description="Per value: in an excursion.")
    event_ids: list[uuid.UUID | None] = Field(
        default_factory=list, description="Per value: the excursion it belongs to, or null."
    )
    explanations: list[dict[str, Any] | None] = Field(
        default_factory=list, description="Per value: why it is anomalous, or null."
    )


class BatchPredictResponse(BaseModel):
    """Verdicts in request order, in the form that was sent."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "series": [
                        {
                            "device_id": EXAMPLE_DEVICE,
                            "metric_name": "temperature",
                            "model_id": "9b1f0c2e-4d3a-4b8e-8f1a-6c2d9e7b5a41",
                            "model_version": 3,
                            "threshold": 0.677,
                            "anomaly_scores": [0.49, 0.51, 0.736],
                            "is_anomaly": [False, False, True],
                            "anomalous": [False, False, True],
                            "event_ids": [None, None, "0f6f1d52-8d0e-5b4c-9a51-3f3c2d7e6a10"],
                        }
                    ],
                    "count": 3,
                    "anomaly_count": 1,
                }
            ]
        }
    )

    results: list[PredictResponse] | None = None
    series: list[SeriesPrediction] | None = None
    count: int
    anomaly_count: int
