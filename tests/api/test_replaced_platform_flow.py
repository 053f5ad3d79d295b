"""The replaced platform's documented flow, end to end over HTTP."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forewarn.security.roles import Role
from tests.factories import PASSWORD

pytestmark = pytest.mark.slow


def _seven_days_of_temperature(client: TestClient, admin: dict[str, str], device: str) -> None:
    rng = np.random.default_rng(7)
    end = int(time.time() * 1000)
    ts = np.arange(end - 7 * 86_400_000, end, 10 * 60_000)
    hours = (ts / 3_600_000) % 24
    temp = 25.5 + 3.0 * np.sin((hours - 9) / 24 * 2 * np.pi) + rng.normal(0, 0.3, len(ts))
    body = [
        {"ts": int(t), "values": {"temperature": round(float(v), 2)}}
        for t, v in zip(ts, temp, strict=True)
    ]
    response = client.post(f"/api/v1/devices/{device}/telemetry", json=body, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["readings"] == len(body)


def test_login_train_predict_flow(client: TestClient, make_user) -> None:  # type: ignore[no-untyped-def]
    _, admin = make_user(Role.ADMIN)
    email = client.get("/api/v1/auth/me", headers=admin).json()["email"]
    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    token = login.json()
    assert token["token_type"] == "bearer" and token["expires_in"] > 0
    headers = {"Authorization": f"Bearer {token['access_token']}"}

    device = client.post(
        "/api/v1/devices",
        headers=headers,
        json={"name": "Temperature Sensor 01", "type": "environmental"},
    )
    assert device.status_code == 201
    device_id = device.json()["id"]
    _seven_days_of_temperature(client, headers, device_id)

    trained = client.post(
        "/api/v1/ml/models/train",
        headers=headers,
        json={"device_id": device_id, "metric_name": "temperature", "training_window_days": 7},
    )
    assert trained.status_code == 201, trained.text
    model = trained.json()
    assert model["sample_count"] == 7 * 144 and model["is_active"] and model["version"] == 1

    hot = client.post(
        "/api/v1/ml/predict",
        headers=headers,
        json={"device_id": device_id, "metric_name": "temperature", "value": 45.0},
    ).json()
    assert hot["is_anomaly"] is True
    assert hot["anomaly_score"] > hot["threshold"] and 0 < hot["anomaly_score"] <= 1
    assert hot["model_id"] == model["id"] and hot["model_version"] == 1

    normal = client.post(
        "/api/v1/ml/predict",
        headers=headers,
        json={"device_id": device_id, "metric_name": "temperature", "value": 25.4},
    ).json()
    assert normal["is_anomaly"] is False

    stored = client.get(
        "/api/v1/ml/anomalies", headers=headers, params={"device_id": device_id}
    ).json()
    assert stored["count"] == 1 and stored["data"][0]["value"] == 45.0

    used = client.get(f"/api/v1/ml/models/{model['id']}", headers=headers).json()
    assert used["prediction_count"] == 2 and used["anomaly_count"] == 1
    assert used["last_used_at"] is not None
