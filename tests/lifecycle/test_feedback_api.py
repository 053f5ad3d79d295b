"""POST /api/v1/ml/anomalies/{id}/feedback: labels, replacement, bad input and roles."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from forewarn.db.models import AnomalyFeedback, ModelMetrics
from forewarn.runtime import Runtime
from tests.api.helpers import locs
from tests.factories import (
    DAY_ROWS,
    FOREST,
    JSON,
    T0,
    Headers,
    make_device,
    normal_readings,
    send_readings,
    store_readings,
    trained_model,
)
from tests.lifecycle.helpers import FEEDBACK, anomalies, label


@pytest.fixture
def anomaly(runtime: Runtime, client: TestClient, operator: Headers) -> JSON:
    """One stored anomaly: a spike scored by a model trained on normal readings."""
    device = make_device(runtime)
    history = normal_readings(3 * DAY_ROWS, start=T0)
    store_readings(runtime, device, history)
    trained_model(client, operator, device, **FOREST)
    spike = normal_readings(1, start=history.end, mean=45.0)
    assert send_readings(client, operator, device, spike) == 1
    (found,) = anomalies(client, operator, device_id=str(device))
    return found


def _stored(runtime: Runtime) -> list[AnomalyFeedback]:
    with runtime.sessions() as session:
        return list(session.scalars(select(AnomalyFeedback)))


def test_operator_labels_an_anomaly(
    runtime: Runtime, client: TestClient, operator: Headers, anomaly: JSON
) -> None:
    response = client.post(
        FEEDBACK.format(anomaly["id"]),
        json={"label": "false_positive", "comment": "valve test"},
        headers=operator,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["anomaly_id"] == anomaly["id"]
    assert body["model_id"] == anomaly["model_id"]
    assert (body["label"], body["comment"]) == ("false_positive", "valve test")
    (row,) = _stored(runtime)
    assert (str(row.anomaly_id), row.label, str(row.user_id)) == (
        anomaly["id"], "false_positive", body["user_id"],
    )  # fmt: skip
    with runtime.sessions() as session:
        counts = session.get(ModelMetrics, uuid.UUID(anomaly["model_id"]))
        assert counts is not None and (counts.true_positives, counts.false_positives) == (0, 1)


@pytest.mark.slow
def test_posting_again_replaces_the_label(
    runtime: Runtime, client: TestClient, operator: Headers, anomaly: JSON
) -> None:
    first = label(client, operator, anomaly["id"], "false_positive")
    second = label(client, operator, anomaly["id"], "true_positive")
    assert second["id"] == first["id"]
    assert second["comment"] is None
    assert second["updated_at"] >= first["updated_at"]
    (row,) = _stored(runtime)
    assert row.label == "true_positive"
    with runtime.sessions() as session:
        counts = session.get(ModelMetrics, uuid.UUID(anomaly["model_id"]))
        assert counts is not None and (counts.true_positives, counts.false_positives) == (1, 0)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label": "maybe"}, "label"),
        ({}, "label"),
        ({"label": "true_positive", "comment": "x" * 2001}, "comment"),
        ({"label": "true_positive", "score": 1}, "score"),
    ],
)
def test_bad_input_names_the_field(
    runtime: Runtime, client: TestClient, operator: Headers, anomaly: JSON, body: JSON, field: str
) -> None:
    response = client.post(FEEDBACK.format(anomaly["id"]), json=body, headers=operator)
    assert ["body", field] in locs(response)
    assert _stored(runtime) == []


def test_unknown_anomaly_is_404(client: TestClient, operator: Headers) -> None:
    response = client.post(
        FEEDBACK.format(uuid.uuid4()), json={"label": "true_positive"}, headers=operator
    )
    assert response.status_code == 404
    assert "anomaly" in response.json()["detail"]


def test_bad_anomaly_id_names_the_path(client: TestClient, operator: Headers) -> None:
    response = client.post(
        FEEDBACK.format("nope"), json={"label": "true_positive"}, headers=operator
    )
    assert ["path", "anomaly_id"] in locs(response)


def test_viewers_cannot_label_and_tokens_are_required(
    runtime: Runtime, client: TestClient, viewer: Headers, admin: Headers, anomaly: JSON
) -> None:
    url, body = FEEDBACK.format(anomaly["id"]), {"label": "true_positive"}
    assert client.post(url, json=body, headers=viewer).status_code == 403
    assert client.post(url, json=body).status_code == 401
    assert _stored(runtime) == []
    assert client.post(url, json=body, headers=admin).status_code == 200  # admin > operator
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AnomalyFeedback)) == 1
