"""The tables. Times of readings are epoch milliseconds (BIGINT) on every backend."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from forewarn.db.types import UTCDateTime, utcnow


class Base(DeclarativeBase):
    """Declarative base of every table."""


class User(Base):
    """A person or script that logs in."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Device(Base):
    """A registered sensor or machine."""

    __tablename__ = "devices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), index=True)
    type: Mapped[str] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(String(200))
    # "metadata" is reserved on declarative classes, hence the attribute name.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Telemetry(Base):
    """One reading: the primary key is also the (device, metric, time range) index.

    No foreign key to devices (PostgreSQL would check it once per row): `telemetry.store`
    checks the devices of each write once, and `delete_device` deletes their readings.
    """

    __tablename__ = "telemetry"

    device_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    metric_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class MLModel(Base):
    """One trained model version of a series (device, metric)."""

    __tablename__ = "ml_models"
    __table_args__ = (
        Index("ix_ml_models_series", "device_id", "metric_name", "version"),
        # At most one active model per series, enforced by the database.
        Index(
            "uq_ml_models_active_series",
            "device_id",
            "metric_name",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    device_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("devices.id", ondelete="CASCADE"))
    metric_name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    algorithm: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    training_start: Mapped[datetime] = mapped_column(UTCDateTime)
    training_end: Mapped[datetime] = mapped_column(UTCDateTime)
    sample_count: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float] = mapped_column(Float)
    artifact_path: Mapped[str] = mapped_column(Text)
    artifact_size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prediction_count: Mapped[int] = mapped_column(BigInteger, default=0)
    anomaly_count: Mapped[int] = mapped_column(BigInteger, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Lifecycle (0005). "rejected": a retrained candidate that lost its backtest (never
    # active); otherwise status follows is_active (see _follow_activity).
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    retrain_schedule: Mapped[str | None] = mapped_column(String(100))  # cron; NULL: global
    retrained_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last retrain attempt

    @validates("is_active")
    def _follow_activity(self, _key: str, value: bool) -> bool:
        if self.status != "rejected":
            self.status = "active" if value else "inactive"
        return value


class AnomalyDetection(Base):
    """A reading a model judged anomalous."""

    __tablename__ = "anomaly_detections"
    __table_args__ = (
        Index("ix_anomalies_series_ts", "device_id", "metric_name", "ts"),
        Index("ix_anomalies_ts", "ts"),
        Index("ix_anomalies_model", "model_id"),
        Index("ix_anomalies_event", "event_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    model_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("ml_models.id", ondelete="CASCADE")
    )
    device_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("devices.id", ondelete="CASCADE"))
    metric_name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    anomaly_score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    ts: Mapped[int] = mapped_column(BigInteger)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # {"summary": str, "metrics": [...], "deviations": [...]}; NULL on rows from before 0002.
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The excursion this reading opened (see detection.events); NULL on rows from before 0007.
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class HealthFinding(Base):
    """A model-health problem found by a scan; open while its condition holds.

    One row per fingerprint (check + subject): a condition that clears and comes back
    reopens the same row, so its escalations (an issue number) are found again.
    """

    __tablename__ = "health_findings"
    __table_args__ = (
        Index("uq_health_findings_fingerprint", "fingerprint", unique=True),
        Index("ix_health_findings_status", "status", "check_name"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    fingerprint: Mapped[str] = mapped_column(String(64))
    check_name: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(String(300))
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))  # "open" | "resolved"
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)  # start of the latest occurrence
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HealthEscalation(Base):
    """What one escalation channel holds for a finding (e.g. its GitHub issue number)."""

    __tablename__ = "health_escalations"

    finding_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("health_findings.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # "pending" | "open" | "closed"
    ref: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # failures since the last success
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HealthScan(Base):
    """One run of the health monitor: what it looked at and what it changed."""

    __tablename__ = "health_scans"
    __table_args__ = (Index("ix_health_scans_started_at", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float] = mapped_column(Float)
    models_total: Mapped[int] = mapped_column(Integer)
    models_active: Mapped[int] = mapped_column(Integer)
    findings_open: Mapped[int] = mapped_column(Integer)
    opened: Mapped[int] = mapped_column(Integer)
    resolved: Mapped[int] = mapped_column(Integer)
    escalated: Mapped[int] = mapped_column(Integer)
    escalation_failures: Mapped[int] = mapped_column(Integer)


class DeadLetter(Base):
    """An ingest message that could not be stored, kept with the reason."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index("ix_dead_letters_received_at", "received_at"),
        Index("ix_dead_letters_kind_received_at", "kind", "received_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32))  # see forewarn/telemetry/dead_letters.py REFUSALS
    topic: Mapped[str] = mapped_column(String(256))  # cut to 256 characters
    payload_excerpt: Mapped[str] = mapped_column(Text)  # the first bytes, decoded leniently
    reason: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AnomalyFeedback(Base):
    """An operator's verdict on an anomaly; posting again replaces it."""

    __tablename__ = "anomaly_feedback"
    __table_args__ = (Index("uq_anomaly_feedback_anomaly", "anomaly_id", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    anomaly_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("anomaly_detections.id", ondelete="CASCADE")
    )
    label: Mapped[str] = mapped_column(String(16))  # "true_positive" | "false_positive"
    comment: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelMetrics(Base):
    """Stored quality and latency figures of one model version (forewarn/lifecycle)."""

    __tablename__ = "model_metrics"

    model_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("ml_models.id", ondelete="CASCADE"), primary_key=True
    )
    latency_count: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_sum_s: Mapped[float] = mapped_column(Float, default=0.0)
    # {bucket index: count} over forewarn.scoring.latency.BOUNDS_S (for the p95).
    latency_buckets: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    first_scored_ts: Mapped[int | None] = mapped_column(BigInteger)  # epoch ms of readings
    last_scored_ts: Mapped[int | None] = mapped_column(BigInteger)
    true_positives: Mapped[int] = mapped_column(Integer, default=0)
    false_positives: Mapped[int] = mapped_column(Integer, default=0)
    # The champion/challenger figures of the retraining that produced this version.
    evaluation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
