"""Scoring that understands time, over HTTP: readings are stored and scored in time order
with the series' recent history, by predict and by ingest alike, and a restart changes no
score. Also device-level models ("*"), explanations, and the batch rules this brings.

Models here are trained on 400 readings ten minutes apart ending at T0 (enough history for
the default's range check); new readings follow at T0 + i * STEP.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forewarn.detection.registry import DEFAULT_ALGORITHM, DEVICE_ALGORITHM
from forewarn.runtime import Runtime
from forewarn.scoring.scorer import Work
from tests.api.helpers import (
    MODELS,
    PREDICT,
    anomalies,
    artifact_files,
    get_model,
    limited_client,
    locs,
    messages,
    points,
    predict,
    row_counts,
    telemetry_url,
    to_ms,
)
from tests.factories import (
    FOREST,
    JSON,
    MINUTE_MS,
    T0,
    Headers,
    normal_readings,
    register_device,
    send_readings,
    trained_model,
)

BATCH = f"{PREDICT}/batch"
STEP = 10 * MINUTE_MS
HISTORY = 400
NORMAL, HOT = 25.1, 45.0
METRICS = ("humidity", "pressure", "temperature")  # sorted, as a device-level model keeps them


def at(i: int) -> int:
    """Time of the i-th reading after the training data (i >= 1)."""
    return T0 + i * STEP


def device_with_history(
    client: TestClient, headers: Headers, name: str = "Pump", **fields: Any
) -> tuple[str, JSON]:
    """A new device with HISTORY normal temperature readings and a model trained on them."""
    device = register_device(client, headers, name=name)
    return device, trained_model(client, headers, device, normal_readings(HISTORY), **fields)


def predict_in_order(
    client: TestClient, headers: Headers, device: str, values: Sequence[float], first: int = 1
) -> list[JSON]:
    """Predict values one by one at times at(first), at(first + 1), ..."""
    verdicts = []
    for i, value in enumerate(values, start=first):
        response = predict(client, headers, device, value, timestamp=at(i))
        assert response.status_code == 200, response.text
        verdicts.append(response.json())
    return verdicts


def without_model(verdicts: list[JSON]) -> list[JSON]:
    """Verdicts without the model id (twin devices have twin models with their own ids) and
    the event id, which is named within the model."""
    own = ("model_id", "event_id")
    return [{k: v for k, v in verdict.items() if k not in own} for verdict in verdicts]


def flagged(verdicts: list[JSON]) -> list[int]:
    """Positions of the readings reported as anomalies."""
    return [i for i, verdict in enumerate(verdicts) if verdict["is_anomaly"]]


def noise(n: int, seed: int) -> list[float]:
    """`n` normal readings (25 +- 0.5, rounded to 0.01)."""
    return [float(v) for v in normal_readings(n, seed=seed).values]


# ---- one history, whatever the path or the process -------------------------------------------

# Normal, then a sensor stuck for 80 minutes, normal long enough for the event gate to re-arm,
# then a spike: the verdicts depend on everything before them (the stuck run is reported once).
RUN = [*noise(8, seed=3), *[25.0] * 8, *noise(16, seed=7), HOT, *noise(5, seed=5)]
RESTART = 12  # readings scored before the restart: the stuck run is then already reported


@pytest.mark.slow
def test_a_restart_changes_no_score(
    client: TestClient, admin: Headers, runtime: Runtime, tmp_path: Path
) -> None:
    reference_device, _ = device_with_history(client, admin, "Reference")
    restarted_device, _ = device_with_history(client, admin, "Restarted")
    reference = predict_in_order(client, admin, reference_device, RUN)
    # Both kinds of state matter across the restart: the stuck run was reported before it
    # (and must not be reported again after), and the gate re-arms for the spike.
    stuck_reported, spike_reported = flagged(reference)
    assert 8 < stuck_reported < RESTART and spike_reported == RUN.index(HOT)
    assert not any(v["warming_up"] for v in reference)

    before = predict_in_order(client, admin, restarted_device, RUN[:RESTART])
    with limited_client(runtime, tmp_path) as restarted:  # a new process: no streams in memory
        after = predict_in_order(restarted, admin, restarted_device, RUN[RESTART:], RESTART + 1)
    assert without_model(before + after) == without_model(reference)


@pytest.mark.slow
def test_a_back_filled_reading_is_scored_on_its_past_and_seen_by_later_ones(
    client: TestClient, admin: Headers
) -> None:
    values = noise(12, seed=6)
    values[4] = 27.5  # the late reading stands out a little
    in_order_device, _ = device_with_history(client, admin, "In order")
    late_device, _ = device_with_history(client, admin, "Late")
    in_order = predict_in_order(client, admin, in_order_device, values)

    late = 5  # position (1-based) of the reading that arrives last but one
    predict_in_order(client, admin, late_device, values[: late - 1])
    predict_in_order(client, admin, late_device, values[late:11], first=late + 1)
    (back_filled,) = predict_in_order(client, admin, late_device, [values[late - 1]], first=late)
    (last,) = predict_in_order(client, admin, late_device, values[11:], first=12)
    assert without_model([back_filled, last]) == without_model([in_order[late - 1], in_order[11]])


def test_state_advances_without_retraining(client: TestClient, admin: Headers) -> None:
    stuck = [25.0] * 12  # two hours of one value, well inside the normal range
    default_device, default_model = device_with_history(client, admin, "Default")
    forest_device, forest_model = device_with_history(client, admin, "Forest", **FOREST)
    default = predict_in_order(client, admin, default_device, stuck)
    forest = predict_in_order(client, admin, forest_device, stuck)

    # The default learns the readings it scores: the same value ends up reported, once.
    assert default[0]["is_anomaly"] is False
    top = max(v["anomaly_score"] for v in default)
    assert top > default[0]["threshold"] > default[0]["anomaly_score"]
    (reported,) = flagged(default)
    assert "temperature unchanged" in default[reported]["explanation"]["summary"]
    # The point-wise forest judges each reading alone: the same value, the same verdict.
    assert {v["anomaly_score"] for v in forest} == {forest[0]["anomaly_score"]}
    assert flagged(forest) == []
    for model in (default_model, forest_model):
        assert get_model(client, admin, model["id"])["version"] == 1  # nothing was retrained
        assert get_model(client, admin, model["id"])["prediction_count"] == len(stuck)


# ---- ingest scores what it stores ----------------------------------------------------------


@pytest.mark.slow
def test_ingest_scores_readings_of_series_with_a_model(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    device, model = device_with_history(client, admin)
    body = [
        {"ts": at(1), "values": {"temperature": NORMAL, "humidity": 50.0}},  # humidity: no model
        {"ts": at(2), "values": {"temperature": 80.0}},
    ]
    response = client.post(telemetry_url(device), json=body, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"device_id": device, "readings": 3, "scored": 2, "anomalies": 1}

    (stored,) = anomalies(client, admin)["data"]
    assert (stored["device_id"], stored["metric_name"], stored["value"]) == (
        device,
        "temperature",
        80.0,
    )
    assert to_ms(stored["ts"]) == at(2) and stored["model_id"] == model["id"]
    assert "temperature" in stored["explanation"]["summary"]
    used = get_model(client, admin, model["id"])
    assert (used["prediction_count"], used["anomaly_count"]) == (2, 1)

    # Predict on a twin gives what ingest gave.
    twin, _ = device_with_history(client, admin, "Twin")
    normal, hot = predict_in_order(client, admin, twin, [NORMAL, 80.0])
    assert normal["is_anomaly"] is False and hot["is_anomaly"] is True
    assert hot["anomaly_score"] == stored["anomaly_score"]
    assert hot["explanation"] == stored["explanation"]

    # A retired model scores nothing any more.
    assert client.delete(f"{MODELS}/{model['id']}", headers=admin).status_code == 200
    later = [{"ts": at(3), "values": {"temperature": 90.0}}]
    response = client.post(telemetry_url(device), json=later, headers=admin)
    assert response.json() == {"device_id": device, "readings": 1, "scored": 0, "anomalies": 0}
    assert row_counts(runtime, device)["anomalies"] == 1


# ---- explanations --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("form", ["single", "items", "series"])
def test_anomalies_are_explained_and_normal_readings_are_not(
    client: TestClient, admin: Headers, form: str
) -> None:
    device, _ = device_with_history(client, admin)
    values, stamps = [NORMAL, HOT], [at(1), at(2)]
    if form == "single":
        verdicts = predict_in_order(client, admin, device, values)
        explanations = [v["explanation"] for v in verdicts]
    elif form == "items":
        items = [
            {"device_id": device, "metric_name": "temperature", "value": v, "timestamp": t}
            for v, t in zip(values, stamps, strict=True)
        ]
        response = client.post(BATCH, json={"items": items}, headers=admin)
        assert response.status_code == 200, response.text
        verdicts = response.json()["results"]
        explanations = [v["explanation"] for v in verdicts]
    else:
        series = {"device_id": device, "metric_name": "temperature"}
        body = {"series": [{**series, "values": values, "timestamps": stamps}]}
        response = client.post(BATCH, json=body, headers=admin)
        assert response.status_code == 200, response.text
        (answer,) = response.json()["series"]
        assert answer["is_anomaly"] == [False, True]
        explanations = answer["explanations"]
    assert explanations[0] is None
    assert set(explanations[1]) == {"summary", "metrics", "deviations"}
    assert explanations[1]["summary"].startswith("temperature 45 is outside its known range")
    assert explanations[1]["metrics"][0] == "temperature"
    assert all(d["metric"] in ("temperature", "") for d in explanations[1]["deviations"])
    (stored,) = anomalies(client, admin, device_id=device)["data"]
    assert stored["explanation"] == explanations[1]


# ---- device-level models -------------------------------------------------------------------


@pytest.fixture
def plant(client: TestClient, admin: Headers) -> str:
    """A device reporting temperature, humidity and pressure together, HISTORY times."""
    device = register_device(client, admin, name="Plant")
    rng = np.random.default_rng(0)
    levels = {"temperature": (25.0, 0.5), "humidity": (55.0, 2.0), "pressure": (1013.0, 1.0)}
    columns = {m: np.round(rng.normal(mean, sd, HISTORY), 2) for m, (mean, sd) in levels.items()}
    body = [
        {
            "ts": T0 - (HISTORY - 1 - i) * STEP,
            "values": {m: float(c[i]) for m, c in columns.items()},
        }
        for i in range(HISTORY)
    ]
    response = client.post(telemetry_url(device), json=body, headers=admin)
    assert response.status_code == 200 and response.json()["readings"] == 3 * HISTORY
    return device


def predict_values(
    client: TestClient, headers: Headers, device: str, i: int, **values: float
) -> Any:
    """POST one device-level reading at at(i)."""
    body = {"device_id": device, "metric_name": "*", "values": values, "timestamp": at(i)}
    return client.post(PREDICT, json=body, headers=headers)


def test_device_level_default_model(
    client: TestClient, admin: Headers, runtime: Runtime, plant: str
) -> None:
    model = trained_model(client, admin, plant, metric="*")
    assert (model["algorithm"], model["metric_name"]) == (DEVICE_ALGORITHM, "*")
    assert model["parameters"]["metrics"] == list(METRICS)
    assert model["sample_count"] == HISTORY
    assert len(artifact_files(runtime, plant, "_all")) == 1

    normal = predict_values(
        client, admin, plant, 1, temperature=25.1, humidity=54.0, pressure=1013.5
    )
    assert normal.status_code == 200, normal.text
    assert normal.json()["is_anomaly"] is False and normal.json()["explanation"] is None
    assert normal.json()["model_id"] == model["id"]

    # Only the pressure is off: it leads the explanation, and the stored anomaly shows it.
    odd = predict_values(client, admin, plant, 2, temperature=25.1, humidity=54.0, pressure=1030.0)
    verdict = odd.json()
    assert verdict["is_anomaly"] is True
    assert verdict["explanation"]["metrics"][0] == "pressure"
    assert verdict["explanation"]["summary"].startswith("pressure")
    (stored,) = anomalies(client, admin, device_id=plant)["data"]
    assert (stored["metric_name"], stored["value"], to_ms(stored["ts"])) == ("*", 1030.0, at(2))
    assert stored["explanation"] == verdict["explanation"]
    # Each metric of the reading is stored as telemetry.
    stored_at_2 = points(client, admin, plant, start=at(2), end=at(2))
    assert {p["metric_name"]: p["value"] for p in stored_at_2} == {
        "temperature": 25.1,
        "humidity": 54.0,
        "pressure": 1030.0,
    }

    # Ingest scores aligned readings with the device-level model.
    reading = {"ts": at(3), "values": {"temperature": 25.0, "humidity": 55.0, "pressure": 1013.0}}
    response = client.post(telemetry_url(plant), json=[reading], headers=admin)
    assert (response.json()["readings"], response.json()["scored"]) == (3, 1)


def test_device_level_forest_model(
    client: TestClient, admin: Headers, runtime: Runtime, plant: str
) -> None:
    model = trained_model(client, admin, plant, metric="*", **FOREST)
    assert (model["algorithm"], model["metric_name"]) == ("isolation_forest", "*")
    (artifact,) = artifact_files(runtime, plant, "_all")
    assert artifact.stat().st_size == model["artifact_size"]
    normal = predict_values(
        client, admin, plant, 1, temperature=25.1, humidity=54.0, pressure=1013.5
    )
    assert normal.json()["is_anomaly"] is False
    odd = predict_values(client, admin, plant, 2, temperature=35.0, humidity=90.0, pressure=1100.0)
    assert odd.json()["is_anomaly"] is True
    assert odd.json()["explanation"]["metrics"] == ["pressure", "temperature", "humidity"]


def test_a_list_of_metrics_is_one_device_level_series(
    client: TestClient, admin: Headers, plant: str
) -> None:
    model = trained_model(client, admin, plant, metric=["temperature", "humidity"])
    assert model["metric_name"] == "humidity,temperature"
    assert model["parameters"]["metrics"] == ["humidity", "temperature"]
    body = {
        "device_id": plant,
        "metric_name": ["temperature", "humidity"],  # any order names the same series
        "values": {"temperature": 25.0, "humidity": 55.0},
        "timestamp": at(1),
    }
    response = client.post(PREDICT, json=body, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["model_id"] == model["id"]


def test_device_level_readings_must_match_the_model(
    client: TestClient, admin: Headers, runtime: Runtime, plant: str
) -> None:
    trained_model(client, admin, plant, metric="*")
    trained_model(client, admin, plant, metric="temperature")
    before = row_counts(runtime)
    one = {"device_id": plant, "metric_name": "*", "value": 25.0, "timestamp": at(1)}
    assert locs(client.post(PREDICT, json=one, headers=admin)) == [["body", "value"]]
    missing = predict_values(client, admin, plant, 1, temperature=25.0)
    assert locs(missing) == [["body", "values"]]
    assert "humidity" in messages(missing) and "pressure" in messages(missing)
    both = {**one, "values": {m: 1.0 for m in METRICS}}
    assert locs(client.post(PREDICT, json=both, headers=admin)) == [["body"]]
    several = {"device_id": plant, "metric_name": "temperature", "values": {"temperature": 25.0}}
    assert locs(client.post(PREDICT, json=several, headers=admin)) == [["body", "values"]]
    assert row_counts(runtime) == before


# ---- batches: one time per reading, all or nothing -----------------------------------------


def test_batch_readings_of_one_series_need_distinct_times(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    device, model = device_with_history(client, admin)
    series = {"device_id": device, "metric_name": "temperature"}
    before = row_counts(runtime)

    def refused(body: JSON) -> list[list[Any]]:
        response = client.post(BATCH, json=body, headers=admin)
        assert row_counts(runtime) == before  # nothing stored, not even the valid series
        return locs(response)

    untimed = [
        {**series, "values": [NORMAL], "timestamps": [at(1)]},
        {**series, "values": [1.0, 2.0]},
    ]
    assert refused({"series": untimed}) == [["body", "series", 1, "timestamps"]]
    twice = [{**series, "values": [HOT, NORMAL, HOT], "timestamps": [at(1), at(2), at(1)]}]
    assert refused({"series": twice}) == [["body", "series", 0, "timestamps", 2]]

    def item(value: float, **extra: Any) -> JSON:
        return {**series, "value": value, **extra}

    items = [item(HOT, timestamp=at(1)), item(NORMAL, timestamp=at(2)), item(HOT, timestamp=at(1))]
    assert refused({"items": items}) == [["body", "items", 2, "timestamp"]]
    assert refused({"items": [item(HOT), item(NORMAL)]}) == [["body", "items", 1, "timestamp"]]
    assert get_model(client, admin, model["id"])["prediction_count"] == 0

    # One value needs no timestamp: it is read now.
    one = client.post(BATCH, json={"series": [{**series, "values": [NORMAL]}]}, headers=admin)
    assert one.status_code == 200, one.text
    assert row_counts(runtime)["telemetry"] == before["telemetry"] + 1


# ---- predict stores the reading ------------------------------------------------------------


def test_predict_stores_the_reading(client: TestClient, admin: Headers) -> None:
    device, _ = device_with_history(client, admin)
    assert predict(client, admin, device, 25.4, timestamp=at(3)).status_code == 200
    stored = points(client, admin, device, metric="temperature", start=at(3), end=at(3))
    assert [(to_ms(p["ts"]), p["value"]) for p in stored] == [(at(3), 25.4)]
    # Predicting again at that time replaces the reading.
    assert predict(client, admin, device, 25.6, timestamp=at(3)).status_code == 200
    stored = points(client, admin, device, metric="temperature", start=at(3), end=at(3))
    assert [(to_ms(p["ts"]), p["value"]) for p in stored] == [(at(3), 25.6)]
    assert len(points(client, admin, device)) == HISTORY + 1


# ---- the replaced platform's train requests ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"contamination": 0.05}, "isolation_forest"),
        ({"n_estimators": 50}, "isolation_forest"),
        ({"contamination": 0.05, "n_estimators": 50}, "isolation_forest"),
        ({}, DEFAULT_ALGORITHM),
    ],
)
def test_forest_options_without_algorithm_mean_isolation_forest(
    client: TestClient, admin: Headers, fields: JSON, expected: str
) -> None:
    device = register_device(client, admin)
    send_readings(client, admin, device, normal_readings(100))
    body = {"device_id": device, "metric_name": "temperature", "training_window_days": 7}
    response = client.post(f"{MODELS}/train", json={**body, **fields}, headers=admin)
    assert response.status_code == 201, response.text
    model = response.json()
    assert model["algorithm"] == expected
    assert {k: model["parameters"][k] for k in fields} == fields


def test_usage_counts_only_what_the_outer_transaction_commits(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    device, model = device_with_history(client, admin)
    with runtime.sessions() as session:
        series = runtime.registry.active(session, uuid.UUID(device), "temperature")
        with session.begin_nested():  # a savepoint released, inside work that is then undone
            runtime.scorer.score_many(session, [Work(series, [(at(1), NORMAL), (at(2), HOT)])])
        session.rollback()
    runtime.usage.flush()
    assert get_model(client, admin, model["id"])["prediction_count"] == 0
    with runtime.sessions() as session:
        series = runtime.registry.active(session, uuid.UUID(device), "temperature")
        with session.begin_nested():
            runtime.scorer.score_many(session, [Work(series, [(at(1), NORMAL), (at(2), HOT)])])
        session.commit()
    runtime.usage.flush()
    assert get_model(client, admin, model["id"])["prediction_count"] == 2
