"""Series, models, anomalies and feedback for the lifecycle tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from forewarn.runtime import Runtime
from forewarn.schemas.devices import DeviceCreate
from forewarn.services.devices import create_device
from forewarn.telemetry.store import Row, write_rows
from tests.api.helpers import ANOMALIES, MODELS, T0, Headers, telemetry_url

STEP_MS = 10 * 60_000
DAY_ROWS = 144  # a day of 10-minute readings
FEEDBACK = ANOMALIES + "/{}/feedback"
JSON = dict[str, Any]


@dataclass(frozen=True)
class Readings:
    """Times (epoch ms) and values of one metric."""

    ts: np.ndarray
    values: np.ndarray

    @property
    def end(self) -> int:
        """The time right after the last reading."""
        return int(self.ts[-1]) + STEP_MS


def normal(n: int, start: int = T0, mean: float = 25.0, sd: float = 0.5, seed: int = 0) -> Readings:
    """`n` Gaussian readings every 10 minutes from `start`, rounded to 0.01."""
    ts = start + STEP_MS * np.arange(n, dtype=np.int64)
    return Readings(ts, np.round(np.random.default_rng(seed).normal(mean, sd, n), 2))


def new_device(runtime: Runtime) -> uuid.UUID:
    """A registered device."""
    with runtime.sessions() as session:
        return create_device(session, DeviceCreate(name="Pump 7", type="pump")).id


def store(runtime: Runtime, device_id: uuid.UUID, r: Readings, metric: str = "temperature") -> None:
    """Write readings straight to telemetry (nothing is scored)."""
    rows = [Row(device_id, metric, int(t), float(v)) for t, v in zip(r.ts, r.values, strict=True)]
    with runtime.sessions() as session:
        write_rows(session.connection(), rows)
        session.commit()


def ingest(
    client: TestClient,
    headers: Headers,
    device_id: uuid.UUID,
    r: Readings,
    metric: str = "temperature",
) -> int:
    """Send readings through the API (scored live); returns the anomalies found."""
    body = [
        {"ts": int(t), "values": {metric: float(v)}} for t, v in zip(r.ts, r.values, strict=True)
    ]
    response = client.post(telemetry_url(str(device_id)), json=body, headers=headers)
    assert response.status_code == 200, response.text
    found: int = response.json()["anomalies"]
    return found


def train(client: TestClient, headers: Headers, device_id: uuid.UUID, **fields: Any) -> JSON:
    """Train the temperature series (small point-wise forest unless `fields` say otherwise)."""
    body = {"device_id": str(device_id), "metric_name": "temperature",
            "algorithm": "isolation_forest", "n_estimators": 25, **fields}  # fmt: skip
    response = client.post(f"{MODELS}/train", json=body, headers=headers)
    assert response.status_code == 201, response.text
    model: JSON = response.json()
    return model


def anomalies(client: TestClient, headers: Headers, **params: Any) -> list[JSON]:
    """Stored anomalies, newest first."""
    response = client.get(ANOMALIES, params={"limit": 1000, **params}, headers=headers)
    assert response.status_code == 200, response.text
    data: list[JSON] = response.json()["data"]
    return data


def label(client: TestClient, headers: Headers, anomaly_id: str, verdict: str) -> JSON:
    """Post feedback on an anomaly."""
    response = client.post(FEEDBACK.format(anomaly_id), json={"label": verdict}, headers=headers)
    assert response.status_code == 200, response.text
    body: JSON = response.json()
    return body


def model_metrics(client: TestClient, headers: Headers, model_id: str) -> JSON:
    """GET /ml/models/{id}/metrics."""
    response = client.get(f"{MODELS}/{model_id}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    body: JSON = response.json()
    return body
