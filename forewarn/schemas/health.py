"""Schemas of the model health API: findings, their escalations, check summaries, scans."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FindingStatus = Literal["open", "resolved"]


class EscalationPublic(BaseModel):
    """Where a finding stands on one channel."""

    model_config = ConfigDict(from_attributes=True)

    channel: str = Field(examples=["github"])
    state: Literal["pending", "open", "closed"]
    ref: str | None = Field(None, description="The channel's reference, e.g. an issue number")
    attempts: int = Field(description="Failed deliveries since the last success")
    last_error: str | None = None
    updated_at: datetime


class FindingBase(BaseModel):
    """What a check found."""

    check: str = Field(examples=["stale"])
    subject: str = Field(description="What fails the check: a model id, a series, a path")
    title: str
    labels: list[str]
    details: dict[str, Any]


class FindingPublic(FindingBase):
    """A stored finding with its history and escalations."""

    id: uuid.UUID
    fingerprint: str = Field(description="Stable identity of (check, subject)")
    status: FindingStatus
    occurrences: int = Field(description="How many times the condition started")
    first_seen: datetime
    opened_at: datetime = Field(description="When the latest occurrence started")
    resolved_at: datetime | None
    escalations: list[EscalationPublic]


class CheckSummary(BaseModel):
    """One check and how many open findings it has."""

    check: str
    description: str
    labels: list[str]
    open: int


class ScanPublic(BaseModel):
    """One scan run."""

    model_config = ConfigDict(from_attributes=True)

    started_at: datetime
    duration_ms: float
    models_total: int
    models_active: int
    findings_open: int
    opened: int
    resolved: int
    escalated: int
    escalation_failures: int


class HealthReport(BaseModel):
    """The latest scan, open findings per check, and a page of findings."""

    scan: ScanPublic | None = Field(description="The most recent scan; null before the first")
    checks: list[CheckSummary]
    data: list[FindingPublic]
    count: int = Field(description="Findings matching the filters (all pages)")
