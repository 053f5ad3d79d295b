"""Test data, each kind made by one helper: users, settings, devices, readings and models.

Devices come as rows through the service layer (`make_device`) or through the API
(`register_device`) where a test needs the HTTP path; the HTTP helpers take any httpx client,
a TestClient or one pointed at a real server. Readings are one `Readings` value made by
`normal_readings`, then written straight to telemetry (`store_readings`, nothing scored) or sent
over HTTP (`send_readings`, scored live). A trained model comes from `trained_model`; a model row
without any training (for the health monitor) from `model_row`. Time that tests step by hand
(alarm rules) comes from `Clock`.
"""

from __future__ import annotations

import functools
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from argon2 import PasswordHasher

from forewarn.db.models import MLModel, User
from forewarn.runtime import Runtime
from forewarn.schemas.devices import DeviceCreate
from forewarn.security.roles import Role
from forewarn.security.tokens import issue_token
from forewarn.services.devices import create_device
from forewarn.settings import Settings
from forewarn.telemetry.store import Row, write_rows

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# 2024-10-27T03:33:20Z: a fixed instant so that synthetic series are reproducible.
T0 = 1_730_000_000_000
STEP_MS = 10 * MINUTE_MS  # the spacing of synthetic readings unless a test says otherwise
DAY_ROWS = 144  # a day of 10-minute readings
# A fixed wall-clock `now` for rows that carry datetimes (model rows, health scans).
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# Train fields of the replaced platform's point-wise Isolation Forest, kept small for speed.
FOREST = {"algorithm": "isolation_forest", "n_estimators": 25}
PASSWORD = "correct-horse-battery"
API = "/api/v1"

Headers = dict[str, str]
JSON = dict[str, Any]


# ---- users and settings ----------------------------------------------------------------------


@functools.cache
def cheap_password_hash() -> str:
    """An argon2id hash of PASSWORD at test-sized cost.

    Login verifies with the hash's own parameters, so seeded users log in quickly (the
    tests that create users through the API or CLI still pay the production cost).
    """
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


@dataclass(frozen=True)
class SeededUser:
    """A user written straight to the database: its id, email and bearer headers."""

    id: uuid.UUID
    email: str
    headers: Headers


def seed_user(
    runtime: Runtime,
    role: Role = Role.VIEWER,
    *,
    email: str | None = None,
    is_active: bool = True,
) -> SeededUser:
    """Insert a user with PASSWORD (cheap hash) and issue it a real 10-minute token."""
    if email is None:
        email = f"{role.value}-{secrets.token_hex(4)}@example.com"
    with runtime.sessions() as session:
        user = User(
            email=email,
            role=role.value,
            password_hash=cheap_password_hash(),
            is_active=is_active,
        )
        session.add(user)
        session.commit()
        user_id = user.id
    token = issue_token(runtime.secret, user_id, role, timedelta(minutes=10))
    return SeededUser(id=user_id, email=email, headers={"Authorization": f"Bearer {token}"})


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    """Settings for a test: its own data dir, a random secret, generous limits."""
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret_key": secrets.token_urlsafe(40),
        "rate_limit_user_per_minute": 100_000,
        "rate_limit_ip_per_minute": 100_000,
        "rate_limit_login_per_minute": 1000,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


# ---- devices ---------------------------------------------------------------------------------


def make_device(
    runtime: Runtime, name: str = "Pump 7", type_: str = "pump", **fields: Any
) -> uuid.UUID:
    """Register a device through the service layer (no HTTP); returns its id."""
    with runtime.sessions() as session:
        return create_device(session, DeviceCreate(name=name, type=type_, **fields)).id


def register_device(
    client: httpx.Client, headers: Headers, name: str = "Pump 7", type_: str = "pump", **fields: Any
) -> str:
    """Register a device through POST /devices; returns its id as the API shows it."""
    body = {"name": name, "type": type_, **fields}
    response = client.post(f"{API}/devices", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# ---- readings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Readings:
    """Readings of one metric: epoch-ms times (oldest first), values and their spacing."""

    ts: np.ndarray
    values: np.ndarray
    step_ms: int = STEP_MS

    @property
    def end(self) -> int:
        """The time one step after the last reading (where a following series starts)."""
        return int(self.ts[-1]) + self.step_ms

    def pairs(self) -> list[tuple[int, float]]:
        """The readings as (ts, value), in time order."""
        return [(int(t), float(v)) for t, v in zip(self.ts, self.values, strict=True)]

    def body(self, metric: str = "temperature") -> list[JSON]:
        """The readings as a telemetry request body."""
        return [{"ts": ts, "values": {metric: value}} for ts, value in self.pairs()]


def normal_readings(
    n: int,
    *,
    start: int | None = None,
    end: int | None = None,
    step_ms: int = STEP_MS,
    mean: float = 25.0,
    sd: float = 0.5,
    seed: int = 0,
) -> Readings:
    """`n` Gaussian readings `step_ms` apart, rounded to 0.01: the first at `start`, or else
    the last at `end` (T0 when neither is given)."""
    steps = step_ms * np.arange(n, dtype=np.int64)
    ts = start + steps if start is not None else (T0 if end is None else end) - steps[::-1]
    values = np.round(np.random.default_rng(seed).normal(mean, sd, n), 2)
    return Readings(ts, values, step_ms)


def store_readings(
    runtime: Runtime, device: uuid.UUID | str, readings: Readings, metric: str = "temperature"
) -> None:
    """Write readings straight to telemetry (nothing is scored)."""
    device_id = uuid.UUID(str(device))
    rows = [Row(device_id, metric, ts, value) for ts, value in readings.pairs()]
    with runtime.sessions() as session:
        write_rows(session.connection(), rows)
        session.commit()


def send_readings(
    client: httpx.Client,
    headers: Headers,
    device: uuid.UUID | str,
    readings: Readings,
    metric: str = "temperature",
    *,
    batch: int = 5000,
) -> int:
    """POST readings as telemetry in batches (scored live); returns the anomalies found."""
    body, found = readings.body(metric), 0
    for first in range(0, len(body), batch):
        part = body[first : first + batch]
        url = f"{API}/devices/{device}/telemetry"
        response = client.post(url, json=part, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["readings"] == len(part)
        found += int(response.json()["anomalies"])
    return found


# ---- models ----------------------------------------------------------------------------------


def trained_model(
    client: httpx.Client,
    headers: Headers,
    device: uuid.UUID | str,
    readings: Readings | None = None,
    *,
    metric: Any = "temperature",
    **fields: Any,
) -> JSON:
    """Train a model through the API on the device's telemetry (after sending `readings`, if
    given) and return it: the default algorithm unless `fields` say otherwise (pass FOREST for
    the small, fast point-wise Isolation Forest)."""
    if readings is not None:
        send_readings(client, headers, device, readings, metric)
    body = {"device_id": str(device), "metric_name": metric, **fields}
    response = client.post(f"{API}/ml/models/train", json=body, headers=headers)
    assert response.status_code == 201, response.text
    model: JSON = response.json()
    return model


def model_row(
    runtime: Runtime,
    device: uuid.UUID,
    metric: str = "temperature",
    *,
    version: int = 1,
    active: bool = True,
    trained: datetime = NOW - timedelta(hours=1),
    used: datetime | None = None,
    size: int = 1000,
    write_artifact: bool = False,
) -> uuid.UUID:
    """A model row without any training: trained at `trained`, last used at `used`
    (optionally with an artifact file of `size` zero bytes)."""
    path = f"{device}/{metric}/model_v{version}.npz"
    if write_artifact:
        target = runtime.settings.resolved_model_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"\0" * size)
    with runtime.sessions() as session:
        model = MLModel(
            device_id=device,
            metric_name=metric,
            version=version,
            algorithm="ensemble",
            parameters={},
            training_start=trained - timedelta(days=7),
            training_end=trained,
            sample_count=100,
            threshold=0.9,
            artifact_path=path,
            artifact_size=size,
            created_at=trained,
            last_used_at=used,
            prediction_count=0 if used is None else 5,
            anomaly_count=0,
            is_active=active,
        )
        session.add(model)
        session.commit()
        return model.id


@dataclass
class Clock:
    """An explicit, steppable time in milliseconds: tests move it, nothing reads a real clock."""

    now: int = 1_700_000_000_000

    def advance(self, *, minutes: float = 0.0, seconds: float = 0.0) -> int:
        """Move forward and return the new time."""
        self.now += round((minutes * 60 + seconds) * 1000)
        return self.now
