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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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
    """One reading: the primary key is also the (device, metric, time range) index."""

    __tablename__ = "telemetry"

    device_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
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


class AnomalyDetection(Base):
    """A reading a model judged anomalous."""

    __tablename__ = "anomaly_detections"
    __table_args__ = (
        Index("ix_anomalies_series_ts", "device_id", "metric_name", "ts"),
        Index("ix_anomalies_ts", "ts"),
        Index("ix_anomalies_model", "model_id"),
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
