"""WebSocket /api/v1/ws/anomalies: what a client receives, what it does not, who may listen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from forewarn.runtime import Runtime
from forewarn.security.roles import Role
from forewarn.security.tokens import issue_token
from tests.api.helpers import anomalies, predict
from tests.factories import (
    FOREST,
    JSON,
    Headers,
    normal_readings,
    register_device,
    seed_user,
    trained_model,
)
from tests.stream.helpers import (
    HOT,
    WS,
    close_of,
    confirmed,
    hot,
    receive,
    token_of,
    ws_url,
)

COLD = -10.0


@pytest.mark.slow
def test_a_predicted_anomaly_reaches_a_viewer_as_stored(
    client: TestClient, runtime: Runtime, admin: Headers, viewer: Headers
) -> None:
    device = register_device(client, admin)
    trained_model(client, admin, device, normal_readings(200), **FOREST)
    with client.websocket_connect(ws_url(token_of(viewer))) as ws:
        assert confirmed(ws) == {"device_id": None, "metric_name": None, "min_score": None}
        verdict = hot(client, admin, device)
        message = receive(ws)
    stored = anomalies(client, admin, device_id=device)["data"]
    assert len(stored) == 1
    assert message == {"type": "anomaly", **stored[0], "ts": message["ts"]}
    assert _same_instant(message["ts"], stored[0]["ts"])
    assert message["anomaly_score"] == verdict["anomaly_score"]
    assert message["model_id"] == verdict["model_id"]
    assert message["explanation"]["summary"]
    # The live message names the event the verdict opened, as the stored row does.
    assert message["event_id"] == verdict["event_id"] == stored[0]["event_id"]
    assert (message["is_anomaly"], message["anomalous"]) == (True, True)


def test_filters_by_device_and_metric(client: TestClient, admin: Headers, viewer: Headers) -> None:
    pump = register_device(client, admin, name="Pump")
    trained_model(client, admin, pump, normal_readings(200), **FOREST)
    fan = register_device(client, admin, name="Fan")
    trained_model(client, admin, fan, normal_readings(200), **FOREST)
    vibration = normal_readings(200, seed=3, mean=2.0, sd=0.1)
    trained_model(client, admin, fan, vibration, metric="vibration", **FOREST)
    by_device = ws_url(token_of(viewer), device_id=fan)
    by_metric = ws_url(token_of(viewer), metric_name="vibration")
    with client.websocket_connect(by_device) as fan_ws, client.websocket_connect(by_metric) as vib:
        assert confirmed(fan_ws)["device_id"] == fan
        assert confirmed(vib)["metric_name"] == "vibration"
        hot(client, admin, pump)  # matches neither
        fan_temperature = hot(client, admin, fan)  # matches the device only
        fan_vibration = hot(client, admin, fan, "vibration")  # matches both
        first, second = receive(fan_ws), receive(fan_ws)
        only = receive(vib)
    assert [first["metric_name"], second["metric_name"]] == ["temperature", "vibration"]
    assert first["model_id"] == fan_temperature["model_id"] and first["device_id"] == fan
    assert only["model_id"] == fan_vibration["model_id"]


@pytest.mark.slow
def test_min_score_filter_drops_lower_scores(
    client: TestClient, admin: Headers, viewer: Headers
) -> None:
    device = register_device(client, admin)
    trained_model(client, admin, device, normal_readings(200), **FOREST)
    # The point-wise forest scores each value alone: hot and cold readings score differently.
    scores = {
        value: _anomaly(client, admin, device, value)["anomaly_score"] for value in (HOT, COLD)
    }
    assert scores[HOT] != scores[COLD]
    low, high = sorted(scores, key=scores.__getitem__)
    between = (scores[low] + scores[high]) / 2
    with client.websocket_connect(ws_url(token_of(viewer), min_score=between)) as ws:
        assert confirmed(ws)["min_score"] == between
        _anomaly(client, admin, device, low)
        _anomaly(client, admin, device, high)
        assert receive(ws)["anomaly_score"] == scores[high]


def test_the_header_token_works_too(client: TestClient, admin: Headers, viewer: Headers) -> None:
    device = register_device(client, admin)
    trained_model(client, admin, device, normal_readings(200), **FOREST)
    with client.websocket_connect(WS, headers=viewer) as ws:
        confirmed(ws)
        verdict = hot(client, admin, device)
        assert receive(ws)["model_id"] == verdict["model_id"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({}, "not authenticated"),
        ({"token": "not-a-jwt"}, "invalid token"),
        ({"token": "expired"}, "token expired"),
        ({"token": "other-secret"}, "invalid token"),
        ({"token": "disabled"}, "unknown or disabled"),
    ],
)
def test_refused_tokens_close_with_1008(
    client: TestClient, runtime: Runtime, query: dict[str, str], reason: str
) -> None:
    user = seed_user(runtime, Role.VIEWER, is_active=query.get("token") != "disabled")
    past = datetime.now(UTC) - timedelta(hours=2)
    tokens = {
        "expired": issue_token(runtime.secret, user.id, Role.VIEWER, timedelta(minutes=5), past),
        "other-secret": issue_token("x" * 40, user.id, Role.VIEWER, timedelta(minutes=5)),
        "disabled": token_of(user.headers),
    }
    token = query.get("token")
    with client.websocket_connect(ws_url(tokens.get(token or "", token))) as ws:
        closed = close_of(ws)
    assert closed.code == 1008
    assert reason in closed.reason


def test_a_bearer_header_of_another_scheme_is_refused(client: TestClient, viewer: Headers) -> None:
    with client.websocket_connect(WS, headers={"Authorization": f"Basic {token_of(viewer)}"}) as ws:
        assert close_of(ws).code == 1008


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"device_id": "pump-7"}, "device_id"),
        ({"metric_name": "bad name!"}, "metric_name"),
        ({"min_score": "1.5"}, "min_score"),
        ({"min_score": "high"}, "min_score"),
        ({"min_scor": "0.5"}, "min_scor"),
    ],
)
def test_bad_filters_close_with_a_reason_naming_the_field(
    client: TestClient, viewer: Headers, filters: dict[str, str], field: str
) -> None:
    with client.websocket_connect(ws_url(token_of(viewer), **filters)) as ws:
        closed = close_of(ws)
    assert closed.code == 1008
    assert closed.reason.startswith(f"{field}: ")


@pytest.mark.slow
def test_the_connection_closes_when_the_token_expires(client: TestClient, runtime: Runtime) -> None:
    user = seed_user(runtime, Role.VIEWER)
    # Issued long ago, valid for three more seconds (time enough to connect on a busy machine).
    issued = datetime.now(UTC) - timedelta(minutes=10)
    ttl = timedelta(minutes=10, seconds=3)
    token = issue_token(runtime.secret, user.id, Role.VIEWER, ttl, issued)
    with client.websocket_connect(ws_url(token)) as ws:
        confirmed(ws)
        closed = close_of(ws)
    assert (closed.code, closed.reason) == (1008, "token expired")


def test_a_client_that_leaves_is_unsubscribed(
    client: TestClient, runtime: Runtime, admin: Headers, viewer: Headers
) -> None:
    device = register_device(client, admin)
    with client.websocket_connect(ws_url(token_of(viewer), device_id=device)) as ws:
        confirmed(ws)
        assert runtime.anomalies.subscribers == 1
    # The next request is served after the handler's clean-up has run.
    assert client.get("/api/v1/health").status_code == 200
    assert runtime.anomalies.subscribers == 0


def _same_instant(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


def _anomaly(client: TestClient, headers: Headers, device: str, value: float) -> JSON:
    verdict: JSON = predict(client, headers, device, value).json()
    assert verdict["is_anomaly"] is True, verdict
    return verdict
