"""Schemas of the model lifecycle: feedback on anomalies, per-model metrics, schedules."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from forewarn.scheduling.cron import cron_expression

FeedbackLabel = Literal["true_positive", "false_positive"]


class FeedbackBase(BaseModel):
    """An operator's verdict on an anomaly."""

    label: FeedbackLabel = Field(
        description="`true_positive`: a real incident; `false_positive`: a false alarm."
    )
    comment: Annotated[str, Field(max_length=2000)] | None = None


class FeedbackCreate(FeedbackBase):
    """Label an anomaly; posting again replaces the previous label and comment."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"label": "false_positive", "comment": "planned maintenance"}]
        },
    )


class FeedbackPublic(FeedbackBase):
    """The stored verdict."""

    model_config = ConfigDict(protected_namespaces=())

    id: uuid.UUID
    anomaly_id: uuid.UUID
    model_id: uuid.UUID
    user_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    threshold_applied: float | None = Field(
        default=None,
        description="With auto-tuning on: the model's new threshold, if this feedback raised it.",
    )


class SuggestionPublic(BaseModel):
    """A better decision level drawn from the feedback on false positives."""

    parameter: str = Field(description="`threshold`, or `decades` for the ensemble.")
    current: float
    suggested: float
    threshold: float = Field(description="The suggested level in score units (0..1).")
    silenced_false_positives: int
    applies: Literal["at once", "at the next retraining"]
    reason: str


class ModelMetricsPublic(BaseModel):
    """Quality and latency of one model version."""

    model_config = ConfigDict(protected_namespaces=())

    model_id: uuid.UUID
    status: str = Field(description="`active`, `inactive` or `rejected` (a retrained candidate).")
    rejection_reason: str | None
    algorithm: str
    threshold: float
    predictions: int
    anomalies: int
    true_positives: int
    false_positives: int
    precision: float | None = Field(
        description="Confirmed share of the labelled anomalies: TP / (TP + FP) (the replaced "
        "platform's `accuracy`)."
    )
    false_positive_rate: float | None = Field(description="False positives per prediction.")
    anomalies_per_day: float | None = Field(
        description="Anomalies per day of the readings the model scored (reading time)."
    )
    latency_calls: int
    latency_mean_ms: float | None
    latency_p95_ms: float | None
    scored_from: datetime | None
    scored_until: datetime | None
    suggestion: SuggestionPublic
    retrain_schedule: str | None = Field(description="The model's own schedule, if any.")
    next_retrain_at: datetime | None = Field(description="For the active model.")
    evaluation: dict[str, Any] | None = Field(
        description="Champion/challenger figures of the retraining that produced this version."
    )


class ScheduleUpdate(BaseModel):
    """Set a series' own retraining schedule (cron, UTC), or null for the global one."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"retrain_schedule": "30 2 * * *"}]}
    )

    retrain_schedule: Annotated[str, AfterValidator(cron_expression)] | None


class SchedulePublic(BaseModel):
    """A model's retraining schedule and its next run."""

    model_config = ConfigDict(protected_namespaces=())

    model_id: uuid.UUID
    retrain_schedule: str | None
    effective_schedule: str
    next_retrain_at: datetime | None
