"""The demo, step by step: admin, simulated sensors, readings, models, scores, evaluation.

Nothing here writes to the console; the CLI passes a `StageHook` to show progress.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from forewarn.db.models import AnomalyDetection, Device, User
from forewarn.demo.report import DEFAULT_GRACE_MS, Evaluation, evaluate
from forewarn.detection.registry import DEFAULT_ALGORITHM
from forewarn.errors import ConflictError
from forewarn.lifecycle.catalog import purge_device_artifacts
from forewarn.lifecycle.training import DAY_MS, TrainSpec, train_model
from forewarn.pipeline.ingest import ReadingPipeline, in_time_order
from forewarn.runtime import Runtime
from forewarn.schemas.auth import UserCreate
from forewarn.schemas.devices import DeviceCreate
from forewarn.scoring.registry import ModelRegistry
from forewarn.scoring.scorer import now_ms
from forewarn.security.roles import Role
from forewarn.services.devices import create_device, delete_device
from forewarn.services.users import create_user
from forewarn.sim import SimulatedSeries, demo_scenario, device_catalogue, profile_by_name
from forewarn.telemetry.query import read_series
from forewarn.telemetry.store import Row

ADMIN_EMAIL = "admin@forewarn.local"
GRACE_MS = DEFAULT_GRACE_MS
MINUTE_MS = 60_000
_CHUNK = 5_000
# The simulated profile is 22-29 °C, which no cold store would report.
_LOCATIONS = {"Cold store": "Hall C"}

Advance = Callable[[int], None]
StageHook = Callable[[str, int], Advance]


def silent_stage(_description: str, _total: int) -> Advance:
    """A stage hook that shows nothing."""
    return lambda _amount: None


@dataclass(frozen=True)
class AdminLogin:
    """The demo admin; `password` is None when the account already existed."""

    email: str
    password: str | None


@dataclass(frozen=True)
class DemoDevice:
    """A registered simulated sensor."""

    id: uuid.UUID
    key: str
    name: str
    location: str


@dataclass(frozen=True)
class SeriesReport:
    """The last-day evaluation of one device's metric."""

    device: DemoDevice
    metric: str
    evaluation: Evaluation


@dataclass(frozen=True)
class DemoResult:
    """Everything the demo did, for the CLI to show."""

    admin: AdminLogin
    removed: int
    devices: tuple[DemoDevice, ...]
    readings: int
    models: int
    series: tuple[SeriesReport, ...]
    algorithm: str


def ensure_admin(session: Session) -> AdminLogin:
    """Create the demo admin with a fresh password, unless it already exists."""
    if session.scalar(select(User.id).where(User.email == ADMIN_EMAIL)) is not None:
        return AdminLogin(ADMIN_EMAIL, None)
    password = secrets.token_urlsafe(12)
    try:
        create_user(session, UserCreate(email=ADMIN_EMAIL, role=Role.ADMIN, password=password))
    except ConflictError:  # created by another process since the check above
        session.rollback()
        return AdminLogin(ADMIN_EMAIL, None)
    return AdminLogin(ADMIN_EMAIL, password)


def remove_demo_devices(session: Session, registry: ModelRegistry) -> int:
    """Delete devices of earlier demo runs (with their data and model files)."""
    # JSON filters differ between SQLite and PostgreSQL; the device table is small here.
    earlier = [d.id for d in session.scalars(select(Device)) if (d.metadata_ or {}).get("demo")]
    for device_id in earlier:
        delete_device(session, device_id)
        purge_device_artifacts(registry, device_id)
    return len(earlier)


def register_devices(session: Session) -> tuple[DemoDevice, ...]:
    """Register the simulator's sensors, tagged as demo devices."""
    devices = []
    for entry in device_catalogue():
        location = str(entry["location"])
        location = _LOCATIONS.get(location, location)
        data = DeviceCreate(
            name=str(entry["name"]), type=str(entry["type"]), location=location,
            metadata=_metadata(entry),
        )  # fmt: skip
        row = create_device(session, data)
        devices.append(DemoDevice(row.id, str(entry["key"]), row.name, location))
    return tuple(devices)


def _metadata(entry: dict[str, Any]) -> dict[str, Any]:
    """Demo tag, simulator key, hardware details and each metric's unit and normal range."""
    metrics = {}
    for metric in entry["metrics"]:
        profile = profile_by_name(metric["name"])
        metrics[profile.name] = {"unit": profile.unit, "low": profile.low, "high": profile.high}
    return {"demo": True, "key": entry["key"], **entry["metadata"], "metrics": metrics}


def ingest(
    pipeline: ReadingPipeline, session: Session, devices: Sequence[DemoDevice],
    series: Sequence[SimulatedSeries], window: tuple[int, int], advance: Advance,
) -> int:  # fmt: skip
    """Send the simulated readings in `window` (ms, both ends included) through the reading
    pipeline, oldest first, a chunk per transaction: stored, and scored where a series has a
    model, exactly as readings arriving over HTTP or MQTT are."""
    ids = {device.key: device.id for device in devices}
    first, last = window
    rows = (
        Row(ids[s.device_key], s.metric, ts, value)
        for s in series
        for ts, value in zip(s.ts_ms.tolist(), s.values.tolist(), strict=True)
        if first <= ts <= last
    )
    written = 0
    for chunk in in_time_order(rows, _CHUNK):
        done = pipeline.ingest(session, chunk, transport="demo").readings
        written += done
        advance(done)
    return written


def train_first_day(
    runtime: Runtime, session: Session, series: Sequence[SimulatedSeries],
    devices: Sequence[DemoDevice], how: tuple[int, str], advance: Advance,
) -> int:  # fmt: skip
    """Train one model per series on its first day only, so the faulty last day is unseen.

    `how` is the (seed, algorithm) of every model."""
    seed, algorithm = how
    ids = {device.key: device.id for device in devices}
    for s in series:
        # read_series includes both ends: [first - 1 ms, first + 1 day - 1 ms] is one day.
        spec = TrainSpec(
            device_id=ids[s.device_key], metric_name=s.metric, window_days=1,
            end_ms=int(s.ts_ms[0]) + DAY_MS - 1, seed=seed, algorithm=algorithm,
        )  # fmt: skip
        train_model(session, runtime.registry, runtime.artifact_key, spec)
        advance(1)
    return len(series)


def evaluate_last_day(
    session: Session, series: Sequence[SimulatedSeries], devices: Sequence[DemoDevice],
    end_ms: int,
) -> tuple[SeriesReport, ...]:  # fmt: skip
    """Hold the anomalies the pipeline stored on the last day against the injected faults."""
    by_key = {device.key: device for device in devices}
    reports = []
    for s in series:
        device = by_key[s.device_key]
        ts, _ = read_series(session, device.id, s.metric, end_ms - DAY_MS + 1, end_ms)
        flagged = anomaly_times(session, device.id, s.metric, end_ms - DAY_MS + 1, end_ms)
        evaluation = evaluate(s.faults, flagged, GRACE_MS, scored_ts=ts)
        reports.append(SeriesReport(device, s.metric, evaluation))
    return tuple(reports)


def anomaly_times(
    session: Session, device_id: uuid.UUID, metric: str, first_ms: int, last_ms: int
) -> np.ndarray:
    """Epoch-ms times of the series' stored anomalies in [first_ms, last_ms]."""
    found = session.scalars(
        select(AnomalyDetection.ts).where(
            AnomalyDetection.device_id == device_id,
            AnomalyDetection.metric_name == metric,
            AnomalyDetection.ts >= first_ms,
            AnomalyDetection.ts <= last_ms,
        )
    )
    return np.array(sorted(found), dtype=np.int64)


def run_demo(
    runtime: Runtime,
    *,
    seed: int = 0,
    days: int = 2,
    algorithm: str = DEFAULT_ALGORITHM,
    end_ms: int | None = None,
    stage: StageHook = silent_stage,
) -> DemoResult:
    """Run every step of the demo against the runtime's database; the simulated readings end
    at `end_ms` (default: now), so a seed and an end replay the same run."""
    if days < 2:
        raise ValueError(f"the demo needs at least 2 days (train on one, score the last); {days=}")
    # Whole minutes, so fault windows read as HH:MM.
    end_ms = (now_ms() if end_ms is None else end_ms) // MINUTE_MS * MINUTE_MS
    series = demo_scenario(end_ms=end_ms, days=days, seed=seed)
    with runtime.sessions() as session:
        admin = ensure_admin(session)
        removed = remove_demo_devices(session, runtime.registry)
        devices = register_devices(session)
        split = end_ms - DAY_MS  # the last day, (split, end_ms], is scored as it arrives
        history = sum(int((s.ts_ms <= split).sum()) for s in series)
        readings = ingest(
            runtime.pipeline, session, devices, series, (0, split),
            stage("ingesting history", history),
        )  # fmt: skip
        models = train_first_day(
            runtime, session, series, devices, (seed, algorithm),
            stage("training on day 1", len(series)),
        )  # fmt: skip
        last_day = sum(int((s.ts_ms > split).sum()) for s in series)
        readings += ingest(
            runtime.pipeline, session, devices, series, (split + 1, end_ms),
            stage("ingesting and scoring the last day", last_day),
        )  # fmt: skip
        scored = evaluate_last_day(session, series, devices, end_ms)
    return DemoResult(admin, removed, devices, readings, models, scored, algorithm)
