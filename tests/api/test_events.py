"""Events over HTTP, as a plant engineer tries them: no fault hides behind another, a steady
sensor does not hide a hot one, a quantised sensor's repeats stay quiet, and a 1 Hz sensor
is judged from the first reading after training (the default detector throughout)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import predict
from tests.factories import (
    DAY_MS,
    MINUTE_MS,
    T0,
    Headers,
    Readings,
    register_device,
    send_readings,
    trained_model,
)

FIVE_MINUTES = 5 * MINUTE_MS
JSON = dict[str, Any]


def daily_cycle(days: int = 7, quantum: float = 0.0, seed: int = 0) -> Readings:
    """5-minute temperatures over `days` up to T0: a 22-29 °C daily cycle plus noise,
    rounded to `quantum` if given (a sensor that reports 0.5 °C steps)."""
    n = days * DAY_MS // FIVE_MINUTES
    ts = T0 - FIVE_MINUTES * np.arange(n, dtype=np.int64)[::-1]
    phase = 2 * np.pi * (ts % DAY_MS) / DAY_MS
    noise = np.random.default_rng(seed).normal(0, 0.2, n)
    values = 25.5 - 3.5 * np.cos(phase) + noise
    values = np.round(values / quantum) * quantum if quantum else np.round(values, 2)
    return Readings(ts, values, FIVE_MINUTES)


def verdicts(
    client: TestClient, headers: Headers, device: str, values: list[float], start: int,
    step_ms: int = FIVE_MINUTES, metric: str = "temperature",
) -> list[JSON]:  # fmt: skip
    """Predict `values` in turn, `step_ms` apart from `start`."""
    out = []
    for i, value in enumerate(values):
        response = predict(client, headers, device, value, metric, timestamp=start + i * step_ms)
        assert response.status_code == 200, response.text
        out.append(response.json())
    return out


def usual_at(history: Readings, ts: int) -> float:
    """The history's value a whole number of days before `ts` (the usual one at that hour)."""
    same_hour = history.ts[(ts - history.ts) % DAY_MS == 0]
    return float(history.values[history.ts == same_hour[-1]][0])


@pytest.fixture
def temperature(client: TestClient, admin: Headers) -> tuple[str, Readings]:
    """A device with a week of 5-minute temperatures and a default model trained on it."""
    device = register_device(client, admin)
    history = daily_cycle()
    trained_model(client, admin, device, history)
    return device, history


def test_a_second_fault_right_after_the_first_is_its_own_event(
    client: TestClient, admin: Headers, temperature: tuple[str, Readings]
) -> None:
    device, _ = temperature
    hot, cold = verdicts(client, admin, device, [45.0, -80.0], T0 + FIVE_MINUTES)
    assert hot["is_anomaly"] and cold["is_anomaly"]
    assert hot["event_id"] != cold["event_id"]
    assert cold["anomaly_score"] > cold["threshold"]  # the score is the detector's own
    assert "-80" in cold["explanation"]["summary"]


def test_a_steady_sensor_does_not_hide_a_hot_reading(
    client: TestClient, admin: Headers, temperature: tuple[str, Readings]
) -> None:
    device, history = temperature
    start = T0 + FIVE_MINUTES
    steady = [usual_at(history, start)] * 10
    *repeats, hot = verdicts(client, admin, device, [*steady, 45.0], start)
    assert hot["is_anomaly"] and hot["anomaly_score"] > hot["threshold"]
    assert all(r["event_id"] != hot["event_id"] for r in repeats)


def test_a_quantised_sensor_repeating_itself_stays_quiet(
    client: TestClient, admin: Headers
) -> None:
    device = register_device(client, admin)
    history = daily_cycle(quantum=0.5)
    trained_model(client, admin, device, history)
    start = T0 + FIVE_MINUTES
    repeats = verdicts(client, admin, device, [usual_at(history, start)] * 10, start)
    assert not any(r["is_anomaly"] or r["anomalous"] for r in repeats)
    hot = verdicts(client, admin, device, [45.0], start + 10 * FIVE_MINUTES)[0]
    assert hot["is_anomaly"]


def test_a_second_spike_after_the_first_calmed_down_is_reported_at_full_score(
    client: TestClient, admin: Headers
) -> None:
    device = register_device(client, admin)
    n = 7 * DAY_MS // FIVE_MINUTES
    ts = T0 - FIVE_MINUTES * np.arange(n, dtype=np.int64)[::-1]
    calm = np.round(np.random.default_rng(4).gamma(9.0, 0.2, n), 2)  # vibration, mm/s
    trained_model(client, admin, device, Readings(ts, calm, FIVE_MINUTES), metric="vibration")
    quiet = [float(v) for v in np.random.default_rng(5).gamma(9.0, 0.2, 8).round(2)]
    run = verdicts(client, admin, device, [9.0, *quiet, 9.0], T0 + FIVE_MINUTES,
                   metric="vibration")  # fmt: skip
    first, second = run[0], run[-1]
    assert first["is_anomaly"] and second["is_anomaly"]
    assert first["event_id"] != second["event_id"]
    assert second["anomaly_score"] > second["threshold"]


def test_a_1hz_sensor_is_judged_from_the_first_reading_after_training(
    client: TestClient, admin: Headers
) -> None:
    device = register_device(client, admin)
    second, rng = 1_000, np.random.default_rng(6)
    ts = T0 - second * np.arange(400, dtype=np.int64)[::-1]
    trained_model(
        client, admin, device, Readings(ts, rng.normal(5.0, 0.1, 400).round(3), second),
        metric="pressure",
    )  # fmt: skip
    normal = [float(v) for v in rng.normal(5.0, 0.1, 300).round(3)]
    shifted = [float(v) for v in rng.normal(5.8, 0.1, 30).round(3)]  # +8 sigma
    run = verdicts(client, admin, device, [*normal, *shifted], T0 + second, second, "pressure")
    assert not any(v["warming_up"] for v in run)
    assert sum(v["is_anomaly"] for v in run[:300]) <= 1  # new extremes of a short range
    assert any(v["is_anomaly"] for v in run[300:305])


def test_too_short_a_history_is_refused_naming_the_minimum(
    client: TestClient, admin: Headers
) -> None:
    device = register_device(client, admin)
    few = Readings(T0 + MINUTE_MS * np.arange(99, dtype=np.int64), np.full(99, 25.0), MINUTE_MS)
    send_readings(client, admin, device, few)
    response = client.post(
        "/api/v1/ml/models/train",
        json={"device_id": device, "metric_name": "temperature"},
        headers=admin,
    )
    assert response.status_code == 422
    assert "ensemble needs at least 100" in response.text
