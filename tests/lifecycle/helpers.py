"""Anomalies, feedback and model metrics for the lifecycle tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import ANOMALIES, MODELS
from tests.factories import JSON, Headers

FEEDBACK = ANOMALIES + "/{}/feedback"


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
