"""The role matrix: viewer reads, operator also acts, admin also manages."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastapi.routing
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from forewarn.db.models import (
    AnomalyDetection,
    AnomalyFeedback,
    Device,
    MLModel,
    Telemetry,
    User,
)
from forewarn.lifecycle.training import TrainSpec, train_model
from forewarn.runtime import Runtime
from forewarn.security.roles import Role
from tests.factories import PASSWORD, Readings, make_device, seed_user, store_readings

API = "/api/v1"
Headers = dict[str, str]


@dataclass(frozen=True)
class World:
    """A device with 40 minutes of readings, its trained model, an anomaly, a spare user."""

    device: uuid.UUID
    model: uuid.UUID
    user: uuid.UUID
    anomaly: uuid.UUID


@pytest.fixture
def world(runtime: Runtime) -> World:
    """Data every call in the matrix can act on, so allowed calls really succeed."""
    now = int(time.time() * 1000)
    device_id = make_device(runtime, "Pump 1")
    minutes = np.arange(40)
    store_readings(runtime, device_id, Readings(now - 60_000 * minutes, 20 + (minutes % 5) / 10))
    with runtime.sessions() as session:
        spec = TrainSpec(
            device_id=device_id,
            metric_name="temperature",
            algorithm="isolation_forest",
            n_estimators=10,
        )
        model = train_model(session, runtime.registry, runtime.artifact_key, spec)
        anomaly = AnomalyDetection(
            model_id=model.id,
            device_id=device_id,
            metric_name="temperature",
            value=45.0,
            anomaly_score=0.9,
            threshold=model.threshold,
            ts=now,
        )
        session.add(anomaly)
        session.commit()
        ids = (device_id, model.id, anomaly.id)
    user = seed_user(runtime, Role.VIEWER).id
    return World(device=ids[0], model=ids[1], user=user, anomaly=ids[2])


@dataclass(frozen=True)
class Call:
    """One endpoint: what it needs, how to call it, and what success looks like."""

    needs: Role
    method: str
    path: str
    ok: int
    body: Callable[[World], Any] | None = None

    def send(self, client: TestClient, world: World, headers: Headers) -> Any:
        """Make the call against the world's objects."""
        path = self.path.format(
            device_id=world.device,
            model_id=world.model,
            user_id=world.user,
            anomaly_id=world.anomaly,
        )
        body = self.body(world) if self.body else None
        return client.request(self.method, f"{API}{path}", json=body, headers=headers)


def _series(world: World) -> dict[str, Any]:
    return {"device_id": str(world.device), "metric_name": "temperature"}


READ, ACT, MANAGE = Role.VIEWER, Role.OPERATOR, Role.ADMIN


def _recent(n: int) -> list[int]:
    """`n` distinct timestamps of the last seconds (a batch gives one per value)."""
    now = int(time.time() * 1000)
    return [now - 1000 * (n - i) for i in range(n)]


def _labelled_series() -> dict[str, object]:
    """A small inline backtest: 200 readings, a spike inside the one labelled window."""
    start = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    values = [20.0 + 0.1 * (i % 7) for i in range(200)]
    values[150] = 60.0
    stamps = [start + i * 60_000 for i in range(200)]
    return {
        "series": [
            {
                "name": "pump/bearing.csv",
                "timestamps": stamps,
                "values": values,
                "windows": [[stamps[145], stamps[155]]],
            }
        ]
    }


CALLS = {
    "list-devices": Call(READ, "GET", "/devices", 200),
    "get-device": Call(READ, "GET", "/devices/{device_id}", 200),
    "read-telemetry": Call(READ, "GET", "/devices/{device_id}/telemetry", 200),
    "list-models": Call(READ, "GET", "/ml/models", 200),
    "get-model": Call(READ, "GET", "/ml/models/{model_id}", 200),
    "list-anomalies": Call(READ, "GET", "/ml/anomalies", 200),
    "list-algorithms": Call(READ, "GET", "/ml/algorithms", 200),
    "me": Call(READ, "GET", "/auth/me", 200),
    "list-dead-letters": Call(READ, "GET", "/ingest/dead-letters", 200),
    "model-health": Call(READ, "GET", "/ml/health", 200),
    "model-metrics": Call(READ, "GET", "/ml/models/{model_id}/metrics", 200),
    "get-retrain-schedule": Call(READ, "GET", "/ml/models/{model_id}/retrain-schedule", 200),
    "ingest": Call(
        ACT,
        "POST",
        "/devices/{device_id}/telemetry",
        200,
        lambda w: {"values": {"temperature": 21}},
    ),
    "train": Call(
        ACT, "POST", "/ml/models/train", 201, lambda w: {**_series(w), "n_estimators": 10}
    ),
    "predict": Call(ACT, "POST", "/ml/predict", 200, lambda w: {**_series(w), "value": 20.2}),
    "predict-batch": Call(
        ACT,
        "POST",
        "/ml/predict/batch",
        200,
        lambda w: {"series": [{**_series(w), "values": [20.1, 20.3], "timestamps": _recent(2)}]},
    ),
    "retire-model": Call(ACT, "DELETE", "/ml/models/{model_id}", 200),
    "evaluate": Call(ACT, "POST", "/ml/evaluate", 200, lambda w: _labelled_series()),
    "scan-model-health": Call(ACT, "POST", "/ml/health/scan", 200),
    "anomaly-feedback": Call(
        ACT,
        "POST",
        "/ml/anomalies/{anomaly_id}/feedback",
        200,
        lambda w: {"label": "false_positive", "comment": "valve test"},
    ),
    "set-retrain-schedule": Call(
        ACT,
        "PUT",
        "/ml/models/{model_id}/retrain-schedule",
        200,
        lambda w: {"retrain_schedule": "30 2 * * *"},
    ),
    "create-device": Call(
        MANAGE, "POST", "/devices", 201, lambda w: {"name": "Fan 2", "type": "fan"}
    ),
    "update-device": Call(
        MANAGE, "PATCH", "/devices/{device_id}", 200, lambda w: {"location": "B"}
    ),
    "delete-device": Call(MANAGE, "DELETE", "/devices/{device_id}", 204),
    "list-users": Call(MANAGE, "GET", "/users", 200),
    "create-user": Call(
        MANAGE,
        "POST",
        "/users",
        201,
        lambda w: {"email": "new@example.com", "role": "viewer", "password": PASSWORD},
    ),
    "get-user": Call(MANAGE, "GET", "/users/{user_id}", 200),
    "update-user": Call(MANAGE, "PATCH", "/users/{user_id}", 200, lambda w: {"role": "operator"}),
    "delete-user": Call(MANAGE, "DELETE", "/users/{user_id}", 204),
}


def _state(runtime: Runtime) -> tuple[object, ...]:
    """Everything a refused call could have changed."""
    with runtime.sessions() as session:
        counts = tuple(
            session.scalar(select(func.count()).select_from(table))
            for table in (Device, Telemetry, MLModel, AnomalyDetection, User)
        )
        devices = session.execute(select(Device.name, Device.location)).all()
        models = session.execute(
            select(MLModel.id, MLModel.is_active, MLModel.retrain_schedule)
        ).all()
        feedback = session.execute(select(AnomalyFeedback.anomaly_id, AnomalyFeedback.label)).all()
        users = session.execute(select(User.id, User.role, User.is_active)).all()
    return counts, sorted(devices), sorted(models), sorted(users), sorted(feedback)


@pytest.mark.parametrize("call", list(CALLS.values()), ids=list(CALLS))
def test_role_matrix(client: TestClient, runtime: Runtime, world: World, call: Call) -> None:
    """Each role against one endpoint: refused with 403 and no effect, or exactly `ok`."""
    headers = {role: seed_user(runtime, role).headers for role in Role}
    got: dict[Role, object] = {}
    want: dict[Role, object] = {}
    for role in Role:  # lowest first: refused calls meet the untouched world
        if role.allows(call.needs):
            got[role] = call.send(client, world, headers[role]).status_code
            want[role] = call.ok
            continue
        before = _state(runtime)
        response = call.send(client, world, headers[role])
        got[role] = (response.status_code, response.json()["detail"], _state(runtime) == before)
        want[role] = (403, f"this action needs the {call.needs.value} role", True)
    assert got == want


def test_the_matrix_covers_every_route(client: TestClient) -> None:
    """A new route must get a row in the table (and so a decision about who may call it)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", lambda routes: routes)
    served = {
        (method, route.path)
        for route in flatten(client.app.routes)  # type: ignore[attr-defined]
        for method in getattr(route, "methods", None) or ()
        if route.path.startswith(API)
    }
    open_routes = {("POST", f"{API}/auth/login"), ("GET", f"{API}/health")}
    assert served - open_routes == {(c.method, API + c.path) for c in CALLS.values()}


def test_demoted_admin_loses_manage_rights_at_once(client: TestClient, runtime: Runtime) -> None:
    boss = seed_user(runtime, Role.ADMIN).headers
    deputy = seed_user(runtime, Role.ADMIN)  # its token still claims "admin"
    assert client.get(f"{API}/users", headers=deputy.headers).status_code == 200

    demoted = client.patch(f"{API}/users/{deputy.id}", headers=boss, json={"role": "viewer"})
    assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
    refused = client.get(f"{API}/users", headers=deputy.headers)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this action needs the admin role"
    assert client.get(f"{API}/devices", headers=deputy.headers).status_code == 200

    client.patch(f"{API}/users/{deputy.id}", headers=boss, json={"role": "admin"})
    assert client.get(f"{API}/users", headers=deputy.headers).status_code == 200


def test_promoted_viewer_may_act_at_once(
    client: TestClient, runtime: Runtime, world: World
) -> None:
    admin = seed_user(runtime, Role.ADMIN).headers
    viewer = seed_user(runtime, Role.VIEWER)  # its token still claims "viewer"
    predict = CALLS["predict"]
    assert predict.send(client, world, viewer.headers).status_code == 403
    client.patch(f"{API}/users/{viewer.id}", headers=admin, json={"role": "operator"})
    assert predict.send(client, world, viewer.headers).status_code == 200
