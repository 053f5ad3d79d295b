"""Model versions over HTTP: training, artifacts on disk, listing, retiring and tampering."""

from __future__ import annotations

import io
import pickle
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forewarn.artifacts import MAGIC
from forewarn.detection.registry import DEFAULT_ALGORITHM, algorithm
from forewarn.runtime import Runtime
from forewarn.security.roles import Role
from tests.api.helpers import (
    ARTIFACT_NAME,
    DEVICES,
    MODELS,
    PREDICT,
    artifact_files,
    get_model,
    limited_client,
    locs,
    messages,
    predict,
    row_counts,
    to_ms,
)
from tests.factories import (
    DAY_MS,
    HOUR_MS,
    T0,
    Headers,
    Readings,
    normal_readings,
    register_device,
    seed_user,
    send_readings,
    trained_model,
)


@pytest.fixture
def device(client: TestClient, admin: Headers) -> str:
    """A registered device without telemetry."""
    return register_device(client, admin)


def train_request(client: TestClient, headers: Headers, **body: Any) -> Any:
    """POST /ml/models/train with exactly this body."""
    return client.post(f"{MODELS}/train", json=body, headers=headers)


def list_models(client: TestClient, headers: Headers, **params: Any) -> dict[str, Any]:
    """GET /ml/models with filters."""
    response = client.get(MODELS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


# ---- training: refusals ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 7, 99])
def test_too_few_readings_is_422_saying_how_many(
    client: TestClient, admin: Headers, device: str, runtime: Runtime, n: int
) -> None:
    if n:
        send_readings(client, admin, device, normal_readings(n))
    response = train_request(client, admin, device_id=device, metric_name="temperature")
    assert response.status_code == 422, response.text
    message = messages(response)
    assert f"found {n} readings" in message and "ensemble needs at least 100" in message
    assert row_counts(runtime)["models"] == 0
    assert artifact_files(runtime, device) == []


def test_readings_outside_the_window_do_not_count(
    client: TestClient, admin: Headers, device: str
) -> None:
    send_readings(client, admin, device, normal_readings(120, step_ms=DAY_MS // 10))  # 10 a day
    short = train_request(
        client, admin, device_id=device, metric_name="temperature", training_window_days=5
    )
    assert short.status_code == 422 and "found 51 readings" in messages(short)
    assert trained_model(client, admin, device, training_window_days=12)["sample_count"] == 120


def test_unknown_device_is_404(client: TestClient, admin: Headers, runtime: Runtime) -> None:
    response = train_request(client, admin, device_id=str(uuid.uuid4()), metric_name="t")
    assert response.status_code == 404, response.text
    assert "not found" in response.json()["detail"]
    assert row_counts(runtime)["models"] == 0


BAD_PARAMETERS = [
    ("contamination", 0),
    ("contamination", -0.1),
    ("contamination", 0.6),
    ("contamination", "x"),
    ("contamination", "AUTO"),
    ("n_estimators", 5),
    ("n_estimators", 5000),
    ("n_estimators", 50.5),
    ("training_window_days", 0),
    ("training_window_days", -3),
    ("training_window_days", "week"),
    ("training_end", 1_730_000_000),
    ("training_end", "last tuesday"),
    ("metric_name", "bad name"),
    ("metric_name", None),
    ("device_id", "not-a-uuid"),
    ("algorithm", "lof"),
    ("learning_rate", 0.1),
]


def test_bad_parameters_are_422_naming_the_field(
    client: TestClient, admin: Headers, device: str, runtime: Runtime, subtests: pytest.Subtests
) -> None:
    send_readings(
        client, admin, device, normal_readings(20)
    )  # enough data: only the field is wrong
    for field, value in BAD_PARAMETERS:
        with subtests.test(field=field, value=value):
            body = {"device_id": device, "metric_name": "temperature", field: value}
            response = train_request(client, admin, **body)
            for loc in locs(response):
                assert loc[:2] == ["body", field], response.text
    assert row_counts(runtime)["models"] == 0


OPTION_REFUSALS = [
    ({"algorithm": DEFAULT_ALGORITHM, "contamination": 0.05}, "contamination"),
    ({"algorithm": "robust_zscore", "n_estimators": 50}, "n_estimators"),
    ({"params": {"no_such_param": 1}}, "params"),
    ({"algorithm": "isolation_forest", "params": {"seed": 3}}, "params"),
]


def test_options_the_algorithm_does_not_take_are_422_naming_them(
    client: TestClient, admin: Headers, device: str, runtime: Runtime, subtests: pytest.Subtests
) -> None:
    send_readings(client, admin, device, normal_readings(100))
    for fields, field in OPTION_REFUSALS:
        with subtests.test(fields=fields):
            body = {"device_id": device, "metric_name": "temperature", **fields}
            assert locs(train_request(client, admin, **body)) == [["body", field]]
    assert row_counts(runtime)["models"] == 0


def test_forest_options_in_params_are_used_not_replaced_by_defaults(
    client: TestClient, admin: Headers, device: str
) -> None:
    send_readings(client, admin, device, normal_readings(100))
    params = {"n_estimators": 30, "contamination": 0.05, "max_samples": 32}
    model = trained_model(client, admin, device, algorithm="isolation_forest", params=params)
    defaults = algorithm("isolation_forest").defaults
    assert not any(defaults[k] == v for k, v in params.items())
    assert {k: model["parameters"][k] for k in params} == params


# ---- training: what is stored -------------------------------------------------------------


def test_training_stores_a_signed_artifact_and_the_model_row(
    client: TestClient, admin: Headers, device: str, runtime: Runtime
) -> None:
    series = normal_readings(200)
    send_readings(client, admin, device, series)
    started = datetime.now(UTC).replace(microsecond=0)
    model = trained_model(
        client, admin, device, contamination=0.05, n_estimators=30, training_window_days=7
    )

    files = artifact_files(runtime, device)
    assert len(files) == 1
    relative = files[0].relative_to(runtime.registry.model_dir)
    assert re.fullmatch(rf"{device}/temperature/model_\d{{8}}_\d{{6}}\.npz", relative.as_posix())
    stamp = datetime.strptime(files[0].name, "model_%Y%m%d_%H%M%S.npz").replace(tzinfo=UTC)
    assert started <= stamp <= datetime.now(UTC)
    assert files[0].stat().st_size == model["artifact_size"] > 0

    assert model["device_id"] == device and model["metric_name"] == "temperature"
    assert model["version"] == 1 and model["is_active"] is True
    assert model["algorithm"] == "isolation_forest"
    assert model["parameters"]["n_estimators"] == 30
    assert model["parameters"]["contamination"] == 0.05
    assert model["parameters"]["training_window_days"] == 7
    assert to_ms(model["training_start"]) == series.ts[0]
    assert to_ms(model["training_end"]) == series.ts[-1]
    assert model["sample_count"] == 200
    assert 0 < model["threshold"] <= 1
    assert model["prediction_count"] == 0 and model["anomaly_count"] == 0
    assert model["last_used_at"] is None
    assert get_model(client, admin, model["id"]) == model


@pytest.mark.slow
def test_defaults_come_from_the_algorithm_and_auto_contamination_is_accepted(
    client: TestClient, admin: Headers, device: str
) -> None:
    send_readings(client, admin, device, normal_readings(100))
    body = {"device_id": device, "metric_name": "temperature", "algorithm": "isolation_forest"}
    default = train_request(client, admin, **body)
    assert default.status_code == 201, default.text
    defaults = algorithm("isolation_forest").defaults
    assert default.json()["parameters"]["n_estimators"] == defaults["n_estimators"] == 100
    assert default.json()["parameters"]["contamination"] == defaults["contamination"] == 0.01
    assert default.json()["parameters"]["training_window_days"] == 7
    # The replaced platform's request: contamination alone still means Isolation Forest.
    auto = trained_model(client, admin, device, contamination="auto")
    assert auto["algorithm"] == "isolation_forest"
    assert auto["parameters"]["contamination"] == "auto"
    assert auto["parameters"]["n_estimators"] == defaults["n_estimators"]
    assert auto["threshold"] == pytest.approx(0.5)
    # Without an algorithm or forest options: the product's default, without forest settings.
    plain = trained_model(client, admin, device)
    assert plain["algorithm"] == DEFAULT_ALGORITHM != "isolation_forest"
    assert not {"n_estimators", "contamination"} & set(plain["parameters"])
    assert plain["parameters"]["training_window_days"] == 7


def test_retraining_activates_version_2_and_keeps_version_1_listed(
    client: TestClient, admin: Headers, device: str, runtime: Runtime
) -> None:
    first = trained_model(client, admin, device, normal_readings(200))
    second = trained_model(client, admin, device)
    assert second["version"] == 2 and second["is_active"] is True
    assert second["id"] != first["id"]
    old = get_model(client, admin, first["id"])
    assert old["is_active"] is False and old["version"] == 1
    listed = list_models(client, admin, device_id=device)
    assert [m["version"] for m in listed["data"]] == [2, 1] and listed["count"] == 2
    assert [m["id"] for m in list_models(client, admin, device_id=device, active=True)["data"]] == [
        second["id"]
    ]
    files = artifact_files(runtime, device)
    assert len(files) == 2 and all(re.fullmatch(ARTIFACT_NAME, f.name) for f in files)
    assert sorted(f.stat().st_size for f in files) == sorted(
        [first["artifact_size"], second["artifact_size"]]
    )
    assert predict(client, admin, device, 25.0).json()["model_id"] == second["id"]


@pytest.fixture
def ten_days_hourly(client: TestClient, admin: Headers, device: str) -> Readings:
    """Half-hourly readings over the ten days up to T0 (481 readings)."""
    series = normal_readings(481, step_ms=HOUR_MS // 2)
    send_readings(client, admin, device, series)
    return series


def test_training_window_days_is_honoured(
    client: TestClient, admin: Headers, device: str, ten_days_hourly: Readings
) -> None:
    three = trained_model(client, admin, device, training_window_days=3)
    assert three["sample_count"] == 3 * 48 + 1  # both ends of the window included
    assert to_ms(three["training_start"]) == T0 - 3 * DAY_MS
    assert to_ms(three["training_end"]) == T0
    assert three["parameters"]["training_window_days"] == 3
    assert trained_model(client, admin, device, training_window_days=30)["sample_count"] == 481


@pytest.mark.parametrize(
    "end", [T0 - 5 * DAY_MS, "2024-10-22T03:33:20Z", "2024-10-22T05:33:20+02:00"]
)
def test_training_end_is_honoured(
    client: TestClient, admin: Headers, device: str, ten_days_hourly: Readings, end: Any
) -> None:
    model = trained_model(client, admin, device, training_window_days=3, training_end=end)
    assert model["sample_count"] == 3 * 48 + 1
    assert to_ms(model["training_end"]) == T0 - 5 * DAY_MS
    assert to_ms(model["training_start"]) == T0 - 8 * DAY_MS


def test_training_end_before_the_data_is_422(
    client: TestClient, admin: Headers, device: str, ten_days_hourly: Readings
) -> None:
    response = train_request(
        client, admin, device_id=device, metric_name="temperature", training_end=T0 - 30 * DAY_MS
    )
    assert response.status_code == 422 and "found 0 readings" in messages(response)


# ---- listing, reading and retiring ---------------------------------------------------------


def test_list_filters_by_device_metric_and_activity(
    client: TestClient, admin: Headers, device: str
) -> None:
    other = register_device(client, admin, name="Other")
    a1 = trained_model(client, admin, device, normal_readings(200))
    a2 = trained_model(client, admin, device)
    h1 = trained_model(client, admin, device, normal_readings(200, seed=1), metric="humidity")
    o1 = trained_model(client, admin, other, normal_readings(200, seed=2))

    def ids(**params: Any) -> list[str]:
        page = list_models(client, admin, **params)
        assert page["count"] == len(page["data"])
        return [m["id"] for m in page["data"]]

    assert ids() == [o1["id"], h1["id"], a2["id"], a1["id"]]  # newest first
    assert ids(device_id=device) == [h1["id"], a2["id"], a1["id"]]
    assert ids(device_id=other) == [o1["id"]]
    assert ids(metric_name="temperature") == [o1["id"], a2["id"], a1["id"]]
    assert ids(device_id=device, metric_name="temperature") == [a2["id"], a1["id"]]
    assert ids(active=True) == [o1["id"], h1["id"], a2["id"]]
    assert ids(active=False) == [a1["id"]]
    assert ids(device_id=device, metric_name="humidity", active=False) == []
    assert ids(device_id=str(uuid.uuid4())) == []
    page = list_models(client, admin, limit=2, offset=1)
    assert [m["id"] for m in page["data"]] == [h1["id"], a2["id"]] and page["count"] == 4


def test_list_rejects_bad_filters(
    client: TestClient, admin: Headers, subtests: pytest.Subtests
) -> None:
    bad = [
        ({"device_id": "x"}, "device_id"),
        ({"metric_name": "a b"}, "metric_name"),
        ({"active": "maybe"}, "active"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
    ]
    for params, field in bad:
        with subtests.test(params=params):
            response = client.get(MODELS, params=params, headers=admin)
            assert locs(response) == [["query", field]]


def test_unknown_model_is_404_and_malformed_id_422(client: TestClient, admin: Headers) -> None:
    unknown = f"{MODELS}/{uuid.uuid4()}"
    assert client.get(unknown, headers=admin).status_code == 404
    assert client.delete(unknown, headers=admin).status_code == 404
    assert locs(client.get(f"{MODELS}/nope", headers=admin)) == [["path", "model_id"]]
    assert locs(client.delete(f"{MODELS}/nope", headers=admin)) == [["path", "model_id"]]


def test_delete_deactivates_and_keeps_the_file(
    client: TestClient, admin: Headers, device: str, runtime: Runtime
) -> None:
    model = trained_model(client, admin, device, normal_readings(200))
    assert predict(client, admin, device, 25.0).status_code == 200  # warms the caches
    response = client.delete(f"{MODELS}/{model['id']}", headers=admin)
    assert response.status_code == 200, response.text
    retired = response.json()
    assert retired["is_active"] is False and retired["artifact_size"] == model["artifact_size"]
    assert get_model(client, admin, model["id"])["is_active"] is False
    assert predict(client, admin, device, 25.0).status_code == 404
    assert list_models(client, admin, device_id=device, active=True)["count"] == 0
    assert list_models(client, admin, device_id=device)["count"] == 1
    assert len(artifact_files(runtime, device)) == 1


@pytest.mark.slow
def test_delete_with_purge_removes_the_artifact(
    client: TestClient, admin: Headers, device: str, runtime: Runtime
) -> None:
    old = trained_model(client, admin, device, normal_readings(200))
    active = trained_model(client, admin, device)
    assert len(artifact_files(runtime, device)) == 2
    purged = client.delete(f"{MODELS}/{old['id']}", params={"purge": True}, headers=admin)
    assert purged.status_code == 200, purged.text
    assert purged.json()["artifact_size"] == 0 and purged.json()["is_active"] is False
    assert [f.stat().st_size for f in artifact_files(runtime, device)] == [active["artifact_size"]]
    assert predict(client, admin, device, 25.0).json()["model_id"] == active["id"]

    gone = client.delete(f"{MODELS}/{active['id']}", params={"purge": "true"}, headers=admin)
    assert gone.json()["artifact_size"] == 0
    assert get_model(client, admin, active["id"])["artifact_size"] == 0
    assert artifact_files(runtime, device) == []
    assert predict(client, admin, device, 25.0).status_code == 404


def test_viewers_list_but_cannot_train_or_retire(
    client: TestClient, admin: Headers, device: str, runtime: Runtime
) -> None:
    model = trained_model(client, admin, device, normal_readings(200))
    viewer = seed_user(runtime, Role.VIEWER).headers
    assert list_models(client, viewer)["count"] == 1
    assert client.get(f"{MODELS}/{model['id']}", headers=viewer).status_code == 200
    body = {"device_id": device, "metric_name": "temperature"}
    assert train_request(client, viewer, **body).status_code == 403
    assert client.delete(f"{MODELS}/{model['id']}", headers=viewer).status_code == 403
    assert client.get(MODELS).status_code == 401


# ---- artifacts that cannot be trusted ------------------------------------------------------


class _CreatesMarker:
    """Unpickling this would create `path`: proof that the payload was executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (str(self.path), "w")


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.slow
@pytest.mark.parametrize("where", ["payload", "signature"])
def test_tampered_artifact_is_refused_for_its_signature(
    client: TestClient, admin: Headers, device: str, runtime: Runtime, where: str
) -> None:
    trained_model(client, admin, device, normal_readings(200))
    (artifact,) = artifact_files(runtime, device)
    _flip_byte(artifact, artifact.stat().st_size // 2 if where == "payload" else 20)
    for _ in range(2):  # a refused artifact is not cached either
        response = predict(client, admin, device, 80.0)
        assert response.status_code == 500, response.text
        assert "signature" in response.json()["detail"]
    batch = client.post(
        f"{PREDICT}/batch",
        headers=admin,
        json={"series": [{"device_id": device, "metric_name": "temperature", "values": [80.0]}]},
    )
    assert batch.status_code == 500 and "signature" in batch.json()["detail"]
    # The refused predictions stored nothing, not even their readings.
    assert row_counts(runtime) == {"telemetry": 200, "models": 1, "anomalies": 0}


def test_a_request_refused_for_one_artifact_counts_no_usage_for_the_others(
    client: TestClient, admin: Headers, device: str, runtime: Runtime
) -> None:
    intact = trained_model(client, admin, device, normal_readings(200))
    trained_model(client, admin, device, normal_readings(200, seed=1), metric="humidity")
    (artifact,) = artifact_files(runtime, device, "humidity")
    _flip_byte(artifact, artifact.stat().st_size // 2)
    items = [
        {"device_id": device, "metric_name": metric, "value": 80.0, "timestamp": T0 + HOUR_MS}
        for metric in ("temperature", "humidity")  # the intact model scores first
    ]
    response = client.post(f"{PREDICT}/batch", json={"items": items}, headers=admin)
    assert response.status_code == 500 and "signature" in response.json()["detail"]
    reading = {"ts": T0 + HOUR_MS, "values": {"temperature": 80.0, "humidity": 80.0}}
    response = client.post(f"{DEVICES}/{device}/telemetry", json=reading, headers=admin)
    assert response.status_code == 500 and "signature" in response.json()["detail"]
    # Nothing was committed, so nothing counts in the intact model's usage either.
    assert row_counts(runtime) == {"telemetry": 400, "models": 2, "anomalies": 0}
    used = get_model(client, admin, intact["id"])
    assert (used["prediction_count"], used["anomaly_count"], used["last_used_at"]) == (0, 0, None)


@pytest.fixture
def cold_client(runtime: Runtime, tmp_path: Path) -> Iterator[TestClient]:
    """Another app on the same database and model directory, with empty caches."""
    with limited_client(runtime, tmp_path) as client:
        yield client


def test_artifact_tampered_after_use_is_refused_by_a_fresh_process(
    client: TestClient,
    admin: Headers,
    device: str,
    runtime: Runtime,
    cold_client: TestClient,
) -> None:
    trained_model(client, admin, device, normal_readings(200))
    assert predict(client, admin, device, 25.0).status_code == 200
    (artifact,) = artifact_files(runtime, device)
    _flip_byte(artifact, artifact.stat().st_size - 1)
    response = predict(cold_client, admin, device, 25.0)
    assert response.status_code == 500, response.text
    assert "signature" in response.json()["detail"]


def test_pickle_in_place_of_the_artifact_is_refused_and_never_run(
    client: TestClient, admin: Headers, device: str, runtime: Runtime, tmp_path: Path
) -> None:
    trained_model(client, admin, device, normal_readings(200))
    (artifact,) = artifact_files(runtime, device)
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_CreatesMarker(marker))
    artifact.write_bytes(payload)
    assert not marker.exists()
    response = predict(client, admin, device, 25.0)
    assert response.status_code == 500, response.text
    assert "not a Forewarn model artifact" in response.json()["detail"]
    archive = io.BytesIO()  # an npz whose array needs unpickling
    np.savez(archive, weights=np.array([_CreatesMarker(marker)], dtype=object))
    forged = MAGIC + bytes(32) + payload  # right magic, made-up signature
    for content, reason in (
        (archive.getvalue(), "not a Forewarn model artifact"),
        (forged, "signature"),
    ):
        artifact.write_bytes(content)
        again = predict(client, admin, device, 25.0)
        assert again.status_code == 500, again.text
        assert reason in again.json()["detail"]
    assert not marker.exists()
