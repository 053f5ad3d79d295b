"""/metrics: who may scrape, and counters that follow ingest and predictions (parsed with
prometheus_client's own text-format parser)."""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from forewarn.db.models import MLModel
from forewarn.runtime import Runtime
from tests.api.helpers import predict
from tests.factories import (
    DAY_ROWS,
    FOREST,
    T0,
    Headers,
    make_device,
    normal_readings,
    send_readings,
    store_readings,
    trained_model,
)

TOKEN = secrets.token_urlsafe(32)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient, headers: Headers) -> Samples:
    """Every sample of /metrics by (name, labels)."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.slow
@pytest.mark.lifecycle_settings(metrics_token=TOKEN)
def test_scraping_needs_the_metrics_token_or_a_user_token(
    client: TestClient, viewer: Headers
) -> None:
    assert client.get("/metrics").status_code == 401
    wrong = {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}
    assert client.get("/metrics", headers=wrong).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/metrics", headers=viewer).status_code == 200


def test_without_a_metrics_token_only_users_may_scrape(client: TestClient, viewer: Headers) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
    assert client.get("/metrics", headers=viewer).status_code == 200


def test_counters_follow_ingest_and_predictions(
    runtime: Runtime, client: TestClient, operator: Headers, viewer: Headers
) -> None:
    device = make_device(runtime)
    history = normal_readings(2 * DAY_ROWS, start=T0)
    store_readings(runtime, device, history)
    trained_model(client, operator, device, **FOREST)
    before = scrape(client, viewer)
    batch = normal_readings(40, start=history.end, seed=1)
    batch.values[[5, 25]] = 45.0
    found = send_readings(client, operator, device, batch)
    response = predict(client, operator, str(device), 45.0, timestamp=batch.end)
    assert response.status_code == 200
    after = scrape(client, viewer)
    growth = {name: _get(after, name) - _get(before, name) for name in (
        "forewarn_predictions_total", "forewarn_anomalies_total",
        "forewarn_prediction_latency_seconds_count",
    )}  # fmt: skip
    assert growth == {
        "forewarn_predictions_total": len(batch.ts) + 1,
        "forewarn_anomalies_total": found + int(response.json()["is_anomaly"]),
        "forewarn_prediction_latency_seconds_count": 2,  # one ingest call, one prediction
    }
    ingested = _get(after, "forewarn_readings_ingested_total", transport="http")
    assert ingested - _get(before, "forewarn_readings_ingested_total", transport="http") == 41
    with runtime.sessions() as session:
        active = session.scalar(select(func.count()).select_from(MLModel).where(MLModel.is_active))
    assert _get(after, "forewarn_active_models") == active == 1
