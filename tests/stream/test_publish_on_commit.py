"""Every scoring path publishes its anomalies once committed, and never rolled-back ones."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from forewarn.runtime import Runtime
from forewarn.scoring.scorer import Work, now_ms
from forewarn.telemetry.store import Row, write_rows
from tests.api.helpers import anomalies, telemetry_url
from tests.factories import (
    FOREST,
    MINUTE_MS,
    Headers,
    normal_readings,
    register_device,
    trained_model,
)
from tests.stream.helpers import HOT, confirmed, hot, receive, token_of, ws_url


def _score_hot(runtime: Runtime, session_work: str, device: str, ts: int) -> None:
    """Store and score a hot reading in a session, then end it as `session_work` says."""
    device_id = uuid.UUID(device)
    with runtime.sessions() as session:
        model = runtime.registry.active(session, device_id, "temperature")
        if session_work == "savepoint":
            savepoint = session.begin_nested()
        write_rows(session.connection(), [Row(device_id, "temperature", ts, HOT)])
        (verdicts,) = runtime.scorer.score_many(session, [Work(model, [(ts, HOT)])])
        assert verdicts[0].is_anomaly
        if session_work == "savepoint":
            savepoint.rollback()
            session.commit()  # the outer transaction commits, without the savepoint's work
        else:
            session.rollback()


def test_rolled_back_anomalies_are_never_published(
    client: TestClient, runtime: Runtime, admin: Headers, viewer: Headers
) -> None:
    device = register_device(client, admin)
    trained_model(client, admin, device, normal_readings(200), **FOREST)
    with client.websocket_connect(ws_url(token_of(viewer), device_id=device)) as ws:
        confirmed(ws)
        _score_hot(runtime, "rollback", device, now_ms() - 2 * MINUTE_MS)
        _score_hot(runtime, "savepoint", device, now_ms() - MINUTE_MS)
        committed = hot(client, admin, device)
        first = receive(ws)
    stored = anomalies(client, admin, device_id=device)["data"]
    assert [row["id"] for row in stored] == [first["id"]]
    assert first["model_id"] == committed["model_id"]


def test_anomalies_found_at_ingest_are_published(
    client: TestClient, admin: Headers, viewer: Headers
) -> None:
    device = register_device(client, admin)
    trained_model(client, admin, device, normal_readings(200), **FOREST)
    start = now_ms() - 10 * MINUTE_MS
    body = [{"ts": start + i * MINUTE_MS, "values": {"temperature": HOT}} for i in range(3)]
    with client.websocket_connect(ws_url(token_of(viewer))) as ws:
        confirmed(ws)
        response = client.post(telemetry_url(device), json=body, headers=admin)
        assert response.status_code == 200, response.text
        stored = anomalies(client, admin, device_id=device)
        assert stored["count"] >= 1
        received = [receive(ws) for _ in range(stored["count"])]
    assert sorted(m["id"] for m in received) == sorted(row["id"] for row in stored["data"])
