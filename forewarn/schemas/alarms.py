"""Alarms over HTTP: the public alarm, its audit trail, and the operators' request bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class AlarmStatus(StrEnum):
    """An alarm's place in its lifecycle (see docs/alerting.md)."""

    ACTIVE_UNACK = "ACTIVE_UNACK"
    ACTIVE_ACK = "ACTIVE_ACK"
    CLEARED_UNACK = "CLEARED_UNACK"
    CLEARED_ACK = "CLEARED_ACK"


class AlarmSeverity(StrEnum):
    """How bad an alarm is, from the least to the worst."""

    INDETERMINATE = "INDETERMINATE"
    WARNING = "WARNING"
    MINOR = "MINOR"
    MAJOR = "MAJOR"
    CRITICAL = "CRITICAL"


class AlarmBase(BaseModel):
    """What every view of an alarm shows."""

    originator: str = Field(description="The series: '<device id>/<metric name>'")
    device_id: uuid.UUID
    metric_name: str
    rule_id: str
    severity: AlarmSeverity
    status: AlarmStatus


class AlarmPublic(AlarmBase):
    """A stored alarm; times of the readings that moved it, and of ack and clear."""

    id: uuid.UUID
    start_ts: datetime
    end_ts: datetime = Field(description="The latest reading that raised or repeated it")
    ack_ts: datetime | None
    clear_ts: datetime | None
    assignee: str | None
    repeats: int
    last_value: float | None
    event_id: uuid.UUID | None = Field(description="The anomaly event that raised it")


class AuditEntryPublic(BaseModel):
    """One step of an alarm's history."""

    actor: str = Field(description="'system' for the rules, else the user's id")
    action: str
    at: datetime
    field: str
    before: str | None
    after: str | None


class AlarmDetail(AlarmPublic):
    """An alarm with its audit trail, oldest entry first."""

    audit: list[AuditEntryPublic]


class AlarmPage(BaseModel):
    """A page of alarms and the total matching the filters."""

    data: list[AlarmPublic]
    count: int
    limit: int
    offset: int


class AlarmAssign(BaseModel):
    """Who takes the alarm; null takes it back."""

    assignee: str | None = Field(max_length=254)


class AlarmCommentCreate(BaseModel):
    """A note on the alarm, kept in its audit trail."""

    text: str = Field(min_length=1, max_length=2000)
