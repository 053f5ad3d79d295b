"""One path for every reading: each entry point stores and scores the same readings alike.

The same readings (a normal stretch with one clear spike, after the training window) go
through HTTP telemetry, HTTP predict (one by one and as a batch), MQTT ingest and
`forewarn import-csv`, each into a fresh database with the same trained model; the stored
telemetry, the stored anomalies and the model's usage counts must be identical.
"""

from __future__ import annotations

import csv
import json
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from forewarn.api.app import create_app
from forewarn.cli.main import app as cli
from forewarn.db.engine import make_engine
from forewarn.db.models import AnomalyDetection, MLModel
from forewarn.runtime import Runtime, build_runtime
from forewarn.security.roles import Role
from forewarn.settings import Settings
from tests.api.helpers import PREDICT, predict
from tests.factories import (
    FOREST,
    MINUTE_MS,
    T0,
    Headers,
    Readings,
    make_settings,
    normal_readings,
    register_device,
    seed_user,
    send_readings,
    trained_model,
)
from tests.ingest.helpers import Publisher, ingest_settings, running_service, telemetry, topic_of
from tests.stream.helpers import HOT
from tests.support import TABLES, service_url, wait_until

STEP_MS = 10 * MINUTE_MS  # the training series' spacing, continued
SPIKE_AT = 17


def readings() -> Readings:
    """30 quiet readings after the training window (which ends at T0), one of them a spike."""
    series = normal_readings(30, end=T0 + 30 * STEP_MS, step_ms=STEP_MS, seed=7, sd=0.2)
    series.values[SPIKE_AT] = HOT
    return series


@dataclass(frozen=True)
class Outcome:
    """What one entry point left in its database."""

    telemetry: list[tuple[str, int, float]]
    anomalies: list[tuple[int, str, float, float, dict[str, Any] | None]]
    usage: tuple[int, int]  # the model's prediction and anomaly counts


@dataclass(frozen=True)
class Trained:
    """A fresh database with a registered device and its trained model."""

    settings: Settings
    device_id: uuid.UUID


# -- the entry points: each sends `series` for the device through its own door -------------


def via_telemetry(trained: Trained, series: Readings, client: TestClient, admin: Headers) -> None:
    """POST /devices/{id}/telemetry, in batches of 8."""
    send_readings(client, admin, str(trained.device_id), series, batch=8)


def via_predict(trained: Trained, series: Readings, client: TestClient, admin: Headers) -> None:
    """POST /ml/predict, one reading at a time."""
    for ts, value in series.pairs():
        response = predict(client, admin, str(trained.device_id), value, timestamp=ts)
        assert response.status_code == 200, response.text


def via_predict_batch(
    trained: Trained, series: Readings, client: TestClient, admin: Headers
) -> None:
    """POST /ml/predict/batch with one columnar series."""
    body = {
        "series": [
            {
                "device_id": str(trained.device_id),
                "metric_name": "temperature",
                "values": [value for _, value in series.pairs()],
                "timestamps": [ts for ts, _ in series.pairs()],
            }
        ]
    }
    response = client.post(f"{PREDICT}/batch", json=body, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["anomaly_count"] == 1


def via_mqtt(trained: Trained, series: Readings, client: TestClient, admin: Headers) -> None:
    """One MQTT message per reading to a running `forewarn ingest` consumer."""
    del client, admin
    mqtt_url = service_url("FOREWARN_TEST_MQTT_URL")
    url = trained.settings.database_url
    assert url is not None
    settings = ingest_settings(
        trained.settings.data_dir.parent,
        url,
        mqtt_url,
        secret_key=trained.settings.signing_secret(),
    )
    publisher = Publisher(mqtt_url)
    try:
        with running_service(settings) as (_, service):
            topic = topic_of(settings, trained.device_id)
            for ts, value in series.pairs():
                payload = json.dumps({"ts": ts, "values": {"temperature": value}}).encode()
                publisher.publish(topic, payload)
            count = len(series.ts)
            wait_until(lambda: service.stats.acknowledged == count, 30, "every message committed")
            assert (service.stats.scored, service.stats.anomalies) == (count, 1)
    finally:
        publisher.close()


def via_csv(trained: Trained, series: Readings, client: TestClient, admin: Headers) -> None:
    """`forewarn import-csv` of a file whose rows are newest first (the import sorts them)."""
    del client, admin
    path = trained.settings.data_dir.parent / "readings.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "temperature"])
        writer.writerows(reversed(series.pairs()))
    env = {  # the test's database, data directory and secret, and nothing else
        "FOREWARN_DATABASE_URL": trained.settings.database_url,
        "FOREWARN_DATA_DIR": str(trained.settings.data_dir),
        "FOREWARN_SECRET_KEY": trained.settings.signing_secret(),
        "FOREWARN_MODEL_DIR": None,
        "FOREWARN_REDIS_URL": None,
        "FOREWARN_MQTT_URL": None,
    }
    args = ["import-csv", str(path), "--device", str(trained.device_id), "--metric", "temperature"]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert f"imported {len(series.ts)} readings" in result.output
    assert f"{len(series.ts)} scored, 1 anomalies" in " ".join(result.output.split())


EntryPoint = Callable[[Trained, Readings, TestClient, Headers], None]
ENTRY_POINTS: dict[str, EntryPoint] = {
    "predict": via_predict,
    "predict_batch": via_predict_batch,
    "mqtt": via_mqtt,
    "csv": via_csv,
}


# -- running one entry point in a fresh database --------------------------------------------


@pytest.fixture
def fresh_database(request: pytest.FixtureRequest, database_url: str) -> Callable[[Path], str]:
    """Empties the test's backend anew for each call: a new SQLite file, or PostgreSQL
    truncated (the runs of one test take turns)."""

    def fresh(where: Path) -> str:
        if database_url.startswith("sqlite"):
            where.mkdir(parents=True, exist_ok=True)
            shutil.copy(request.getfixturevalue("sqlite_template"), where / "forewarn.db")
            return f"sqlite:///{where / 'forewarn.db'}"
        engine = make_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {TABLES} CASCADE"))
        engine.dispose()
        return database_url

    return fresh


@contextmanager
def served(settings: Settings) -> Iterator[tuple[Runtime, TestClient, Headers]]:
    """A runtime on `settings`, its app and an admin's headers; closed afterwards."""
    runtime = build_runtime(settings, migrate=False)
    try:
        with TestClient(create_app(runtime, own_runtime=False)) as client:
            yield runtime, client, seed_user(runtime, Role.ADMIN).headers
    finally:
        runtime.close()


def outcome(runtime: Runtime, device_id: uuid.UUID) -> Outcome:
    """The device's telemetry, its anomalies and its model's usage, as stored."""
    runtime.usage.flush()
    with runtime.sessions() as session:
        stored = session.scalars(
            select(AnomalyDetection)
            .where(AnomalyDetection.device_id == device_id)
            .order_by(AnomalyDetection.ts)
        )
        anomalies = [(a.ts, a.metric_name, a.value, a.anomaly_score, a.explanation) for a in stored]
        model = session.scalars(select(MLModel).where(MLModel.device_id == device_id)).one()
        usage = (model.prediction_count, model.anomaly_count)
    return Outcome(telemetry(runtime, device_id), anomalies, usage)


def run(entry: EntryPoint, url: str, where: Path, secret: str) -> Outcome:
    """Train the device's model in the fresh database at `url`, send the readings, look."""
    settings = make_settings(where, url, secret_key=secret)
    with served(settings) as (runtime, client, admin):
        device_id = uuid.UUID(register_device(client, admin))
        trained_model(client, admin, device_id, normal_readings(200), **FOREST)
        entry(Trained(settings, device_id), readings(), client, admin)
        return outcome(runtime, device_id)


# -- the tests -------------------------------------------------------------------------------


def test_http_telemetry_scores_the_spike(
    fresh_database: Callable[[Path], str], tmp_path: Path
) -> None:
    secret = secrets.token_urlsafe(40)
    done = run(via_telemetry, fresh_database(tmp_path / "http"), tmp_path / "http", secret)
    spike_ts = int(readings().ts[SPIKE_AT])
    assert [(ts, metric, value) for ts, metric, value, _, _ in done.anomalies] == [
        (spike_ts, "temperature", HOT)
    ]
    assert done.usage == (30, 1)
    assert ("temperature", spike_ts, HOT) in done.telemetry


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_every_entry_point_stores_and_scores_like_http_telemetry(
    name: str, fresh_database: Callable[[Path], str], tmp_path: Path
) -> None:
    if name == "mqtt":
        service_url("FOREWARN_TEST_MQTT_URL")  # skips (or fails) before any work
    secret = secrets.token_urlsafe(40)  # one secret: both runs train the same model
    expected = run(via_telemetry, fresh_database(tmp_path / "http"), tmp_path / "http", secret)
    got = run(ENTRY_POINTS[name], fresh_database(tmp_path / name), tmp_path / name, secret)
    assert got.telemetry == expected.telemetry
    assert got.anomalies == expected.anomalies
    assert len(got.anomalies) == 1 and got.anomalies[0][2] == HOT
    assert got.usage == expected.usage == (30, 1)
