"""The health checks, as a table: each names its problem, its labels and how to find it.

A check is a pure function of the scan's facts and its limits (the thresholds), so it is
tested with a chosen `now`, and adding one is a function and a row. A check over single
models also gives an SQL condition: the scan fetches only the active models that some
check's condition selects, so a healthy fleet costs almost nothing to scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, func, or_

from forewarn.db.models import MLModel
from forewarn.monitor.facts import Facts, ModelFact

MIB = 1024 * 1024
TITLE_LIMIT = 300  # the column's width
Fields = Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class Offender:
    """A subject that fails a check; `fields` (title and details) are built only if needed."""

    subject: str
    fields: Fields


@dataclass(frozen=True)
class HealthLimits:
    """What the checks compare against (FOREWARN_MONITOR_*)."""

    stale_days: float
    inactive_hours: float
    max_inactive_versions: int
    storage_mb: float


@dataclass(frozen=True)
class Check:
    """One kind of health problem."""

    name: str
    title: str  # a str.format template over an offender's fields
    labels: tuple[str, ...]
    description: str
    find: Callable[[Facts, HealthLimits], Iterator[Offender]]
    # Which active models `find` may flag, as an SQL condition on ml_models (None: none).
    models: Callable[[datetime, HealthLimits], ColumnElement[bool]] | None = None


@dataclass(frozen=True)
class Found:
    """An offender of a check, identified by its fingerprint."""

    check: str
    subject: str
    fingerprint: str
    labels: tuple[str, ...]
    template: str
    fields: Fields

    def describe(self) -> tuple[str, dict[str, Any]]:
        """The finding's title and details."""
        fields = dict(self.fields())
        return self.template.format(**fields)[:TITLE_LIMIT], fields


def fingerprint(check: str, subject: str) -> str:
    """A stable identity for (check, subject): the same on every scan and every restart."""
    return hashlib.sha256(f"{check}\x1f{subject}".encode()).hexdigest()[:32]


def _model_fields(model: ModelFact, **extra: Any) -> dict[str, Any]:
    last_used = model.last_used_at.isoformat(timespec="seconds") if model.last_used_at else None
    return {
        "model_id": str(model.id),
        "device_id": str(model.device_id),
        "device": model.device_name,
        "metric": model.metric_name,
        "version": model.version,
        "trained_at": model.created_at.isoformat(timespec="seconds"),
        "last_used_at": last_used,
        "prediction_count": model.prediction_count,
        **extra,
    }


def _stale_since(now: datetime, limits: HealthLimits) -> datetime:
    return now - timedelta(days=limits.stale_days)


def _idle_since(now: datetime, limits: HealthLimits) -> datetime:
    return now - timedelta(hours=limits.inactive_hours)


def _last_activity(model: ModelFact) -> datetime:
    # A model that never predicted counts from when it was trained.
    return model.last_used_at or model.created_at


def _stale(facts: Facts, limits: HealthLimits) -> Iterator[Offender]:
    cutoff = _stale_since(facts.now, limits)
    for model in facts.models:
        if model.created_at < cutoff:
            age = round((facts.now - model.created_at) / timedelta(days=1), 1)
            yield Offender(str(model.id), partial(_model_fields, model, age_days=age))


def _inactive(facts: Facts, limits: HealthLimits) -> Iterator[Offender]:
    cutoff = _idle_since(facts.now, limits)
    for model in facts.models:
        if _last_activity(model) < cutoff:
            idle = round((facts.now - _last_activity(model)) / timedelta(hours=1), 1)
            yield Offender(str(model.id), partial(_model_fields, model, idle_hours=idle))


def _cleanup(facts: Facts, limits: HealthLimits) -> Iterator[Offender]:
    limit = limits.max_inactive_versions
    for series in facts.series:
        if series.inactive_versions > limit:
            fields = {
                "device_id": str(series.device_id),
                "device": series.device_name,
                "metric": series.metric_name,
                "inactive_versions": series.inactive_versions,
                "inactive_mb": round(series.inactive_bytes / MIB, 2),
                "limit": limit,
            }
            yield Offender(f"{series.device_id}/{series.metric_name}", partial(dict, fields))


def _storage(facts: Facts, limits: HealthLimits) -> Iterator[Offender]:
    used = facts.storage.bytes / MIB
    if used > limits.storage_mb:
        fields = {
            "path": facts.storage.path,
            "used_mb": round(used, 1),
            "files": facts.storage.files,
            "limit_mb": limits.storage_mb,
        }
        yield Offender(facts.storage.path, partial(dict, fields))


CHECKS: tuple[Check, ...] = (
    Check(
        "stale",
        "Model {metric} v{version} of {device} needs retraining",
        ("ml", "ml-retraining", "predictive-maintenance"),
        "An active model trained more than FOREWARN_MONITOR_STALE_DAYS days ago.",
        _stale,
        lambda now, s: MLModel.created_at < _stale_since(now, s),
    ),
    Check(
        "inactive",
        "Model {metric} v{version} of {device} is inactive, may be dead",
        ("ml", "ml-monitoring"),
        "An active model with no prediction in FOREWARN_MONITOR_INACTIVE_HOURS hours.",
        _inactive,
        lambda now, s: (
            func.coalesce(MLModel.last_used_at, MLModel.created_at) < _idle_since(now, s)
        ),
    ),
    Check(
        "cleanup",
        "Too many inactive models for {metric} of {device}",
        ("ml", "ml-cleanup", "storage"),
        "A series keeping more than FOREWARN_MONITOR_MAX_INACTIVE_VERSIONS inactive versions.",
        _cleanup,
    ),
    Check(
        "storage",
        "Model storage high: over {limit_mb:g} MB",
        ("ml", "storage"),
        "The model directory holds more than FOREWARN_MONITOR_STORAGE_MB MiB.",
        _storage,
    ),
)
CHECK_NAMES = tuple(check.name for check in CHECKS)


def model_filter(
    checks: tuple[Check, ...], now: datetime, limits: HealthLimits
) -> ColumnElement[bool] | None:
    """The active models any check may flag (None when no check looks at single models)."""
    conditions = [check.models(now, limits) for check in checks if check.models is not None]
    return or_(*conditions) if conditions else None


def evaluate(facts: Facts, limits: HealthLimits, checks: tuple[Check, ...] = CHECKS) -> list[Found]:
    """Every offender of every check."""
    return [
        Found(
            check=check.name,
            subject=offender.subject,
            fingerprint=fingerprint(check.name, offender.subject),
            labels=check.labels,
            template=check.title,
            fields=offender.fields,
        )
        for check in checks
        for offender in check.find(facts, limits)
    ]
