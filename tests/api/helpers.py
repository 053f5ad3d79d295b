"""Helpers shared by the API tests: devices, synthetic series, training, error locations."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from forewarn.api.app import create_app
from forewarn.db.models import AnomalyDetection, MLModel, Telemetry
from forewarn.runtime import Runtime, build_runtime
from forewarn.security.roles import Role
from tests.conftest import make_settings, seed_user

API = "/api/v1"
DEVICES = f"{API}/devices"
MODELS = f"{API}/ml/models"
PREDICT = f"{API}/ml/predict"
ANOMALIES = f"{API}/ml/anomalies"
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# 2024-10-27T03:33:20Z: a fixed instant so that synthetic series are reproducible.
T0 = 1_730_000_000_000
# Train fields of the replaced platform's point-wise Isolation Forest, kept small for speed.
FOREST = {"algorithm": "isolation_forest", "n_estimators": 25}
ARTIFACT_NAME = r"model_\d{8}_\d{6}(_\d+)?\.npz"

Headers = dict[str, str]
JSON = dict[str, Any]


def now_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return int(time.time() * 1000)


def to_ms(value: str) -> int:
    """Epoch milliseconds of an ISO 8601 datetime as the API returns it."""
    return round(datetime.fromisoformat(value).timestamp() * 1000)


def user_headers(runtime: Runtime, role: Role) -> Headers:
    """Bearer headers of a new user with `role` (see tests.conftest.seed_user)."""
    return seed_user(runtime, role).headers


def telemetry_url(device_id: str) -> str:
    """The telemetry collection of a device."""
    return f"{DEVICES}/{device_id}/telemetry"


def locs(response: Response) -> list[list[Any]]:
    """The `loc` of every validation error in a 422 response."""
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]


def messages(response: Response) -> str:
    """Every validation message of a 422 response, joined."""
    return " | ".join(error["msg"] for error in response.json()["detail"])


def create_device(
    client: TestClient, headers: Headers, name: str = "Pump 07", type_: str = "pump", **fields: Any
) -> str:
    """Register a device and return its id."""
    body = {"name": name, "type": type_, **fields}
    response = client.post(DEVICES, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@dataclass(frozen=True)
class Series:
    """A synthetic series: epoch-ms timestamps (oldest first) and values."""

    ts: np.ndarray
    values: np.ndarray


def normal_series(
    n: int,
    *,
    end_ms: int = T0,
    step_ms: int = 10 * MINUTE_MS,
    seed: int = 0,
    mean: float = 25.0,
    sd: float = 0.5,
) -> Series:
    """`n` readings ending at `end_ms`, Gaussian around `mean`, rounded to 0.01."""
    ts = end_ms - step_ms * np.arange(n - 1, -1, -1, dtype=np.int64)
    values = np.round(np.random.default_rng(seed).normal(mean, sd, n), 2)
    return Series(ts, values)


def ingest(
    client: TestClient,
    headers: Headers,
    device_id: str,
    series: Series,
    metric: str = "temperature",
    batch: int = 5000,
) -> None:
    """Send a series as telemetry in batches."""
    for start in range(0, len(series.ts), batch):
        body = [
            {"ts": int(t), "values": {metric: float(v)}}
            for t, v in zip(
                series.ts[start : start + batch], series.values[start : start + batch], strict=True
            )
        ]
        response = client.post(telemetry_url(device_id), json=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["readings"] == len(body)


def train(
    client: TestClient, headers: Headers, device_id: str, metric: str = "temperature", **fields: Any
) -> JSON:
    """Train a model and return it: the default algorithm unless `fields` say otherwise
    (pass FOREST for the point-wise Isolation Forest, small and fast)."""
    body = {"device_id": device_id, "metric_name": metric, **fields}
    response = client.post(f"{MODELS}/train", json=body, headers=headers)
    assert response.status_code == 201, response.text
    model: JSON = response.json()
    return model


def trained_series(
    client: TestClient,
    headers: Headers,
    device_id: str,
    metric: str = "temperature",
    n: int = 200,
    seed: int = 0,
    **fields: Any,
) -> JSON:
    """Ingest a normal series for a metric of a device and train a model on it."""
    ingest(client, headers, device_id, normal_series(n, seed=seed), metric)
    return train(client, headers, device_id, metric, **fields)


def predict(
    client: TestClient,
    headers: Headers,
    device_id: str,
    value: Any,
    metric: str = "temperature",
    **fields: Any,
) -> Response:
    """POST one value to /ml/predict."""
    body = {"device_id": device_id, "metric_name": metric, "value": value, **fields}
    return client.post(PREDICT, json=body, headers=headers)


def get_model(client: TestClient, headers: Headers, model_id: str) -> JSON:
    """One model as the API shows it."""
    response = client.get(f"{MODELS}/{model_id}", headers=headers)
    assert response.status_code == 200, response.text
    model: JSON = response.json()
    return model


def anomalies(client: TestClient, headers: Headers, **params: Any) -> JSON:
    """GET /ml/anomalies with filters."""
    response = client.get(ANOMALIES, params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: JSON = response.json()
    return page


def artifact_files(runtime: Runtime, device_id: str, metric: str = "temperature") -> list[Path]:
    """Artifact files of a series in the model directory, oldest name first."""
    return sorted((runtime.registry.model_dir / device_id / metric).glob("*.npz"))


def row_counts(runtime: Runtime, device_id: str | None = None) -> dict[str, int]:
    """Rows of telemetry, models and anomalies in the database (of one device if given)."""
    counts = {}
    with runtime.sessions() as session:
        for name, table in (
            ("telemetry", Telemetry),
            ("models", MLModel),
            ("anomalies", AnomalyDetection),
        ):
            query = select(func.count()).select_from(table)
            if device_id is not None:
                query = query.where(table.device_id == uuid.UUID(device_id))
            counts[name] = session.scalar(query) or 0
    return counts


@contextmanager
def limited_client(runtime: Runtime, tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    """A second app on the same database, data directory and secret, with other settings."""
    url = runtime.settings.database_url
    assert url is not None
    settings = make_settings(tmp_path, url, secret_key=runtime.secret, **overrides)
    other = build_runtime(settings, migrate=False)
    try:
        with TestClient(create_app(other, own_runtime=False)) as client:
            yield client
    finally:
        other.close()


def readings(n: int, metric: str = "temperature", start_ms: int = T0) -> list[JSON]:
    """`n` valid readings one minute apart."""
    return [{"ts": start_ms + i * MINUTE_MS, "values": {metric: 20.0 + i / 10}} for i in range(n)]


def points(client: TestClient, headers: Headers, device_id: str, **params: Any) -> list[JSON]:
    """Stored telemetry points of a device (GET, newest first)."""
    response = client.get(
        telemetry_url(device_id), params={"limit": 100_000, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    data: list[JSON] = response.json()["data"]
    return data
