"""Helpers shared by the API tests: URLs, error locations, predictions, stored rows."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from forewarn.api.app import create_app
from forewarn.db.models import AnomalyDetection, MLModel, Telemetry
from forewarn.runtime import Runtime, build_runtime
from tests.factories import API, JSON, Headers, make_settings

DEVICES = f"{API}/devices"
MODELS = f"{API}/ml/models"
PREDICT = f"{API}/ml/predict"
ANOMALIES = f"{API}/ml/anomalies"
ARTIFACT_NAME = r"model_\d{8}_\d{6}(_\d+)?\.npz"


def now_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return int(time.time() * 1000)


def to_ms(value: str) -> int:
    """Epoch milliseconds of an ISO 8601 datetime as the API returns it."""
    return round(datetime.fromisoformat(value).timestamp() * 1000)


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


def points(client: TestClient, headers: Headers, device_id: str, **params: Any) -> list[JSON]:
    """Stored telemetry points of a device (GET, newest first)."""
    response = client.get(
        telemetry_url(device_id), params={"limit": 100_000, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    data: list[JSON] = response.json()["data"]
    return data
