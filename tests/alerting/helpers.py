"""Alarms made the way a plant makes them: a trained model, normal readings, an excursion."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from tests.factories import (
    API,
    STEP_MS,
    T0,
    Headers,
    Readings,
    normal_readings,
    register_device,
    send_readings,
    trained_model,
)

ALARMS = f"{API}/alarms"
JSON = dict[str, Any]


class Plant:
    """One device with a trained model, fed readings over HTTP telemetry in time order."""

    def __init__(self, client: TestClient, headers: Headers, name: str = "Pump") -> None:
        self.client, self.headers = client, headers
        self.device = register_device(client, headers, name=name)
        trained_model(client, headers, self.device, normal_readings(300))
        self.next_ts = T0 + STEP_MS

    def normal(self, n: int, seed: int = 1) -> int:
        """Send `n` usual readings; the anomalies found."""
        return self.send(normal_readings(n, start=self.next_ts, seed=seed))

    def hot(self, *values: float) -> int:
        """Send an excursion of these values; the anomalies found."""
        ts = self.next_ts + STEP_MS * np.arange(len(values), dtype=np.int64)
        return self.send(Readings(ts, np.array(values, dtype=float)))

    def send(self, readings: Readings) -> int:
        """POST the readings as telemetry and move the clock past them."""
        self.next_ts = readings.end
        return send_readings(self.client, self.headers, self.device, readings)


def alarms(client: TestClient, headers: Headers, **params: Any) -> JSON:
    """GET /alarms with filters."""
    response = client.get(ALARMS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: JSON = response.json()
    return page


def alarm(client: TestClient, headers: Headers, alarm_id: str) -> JSON:
    """GET /alarms/{id}: the alarm with its audit trail."""
    response = client.get(f"{ALARMS}/{alarm_id}", headers=headers)
    assert response.status_code == 200, response.text
    found: JSON = response.json()
    return found
