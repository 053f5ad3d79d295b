"""Redis fan-out: every API process's clients see each anomaly exactly once, across restarts."""

from __future__ import annotations

import queue
import secrets
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from forewarn.api.app import create_app
from forewarn.runtime import Runtime, build_runtime
from forewarn.security.roles import Role
from forewarn.stream.bus import dropped_counter
from forewarn.stream.events import AnomalyEvent
from forewarn.stream.redis_fanout import RedisFanout
from tests.api.helpers import anomalies
from tests.factories import (
    FOREST,
    T0,
    Headers,
    make_settings,
    normal_readings,
    register_device,
    seed_user,
    trained_model,
)
from tests.stream.events import event
from tests.stream.helpers import HOT, confirmed, hot, receive, token_of, ws_url
from tests.support import free_port, redis_command, server, service_url, wait_until


@dataclass(frozen=True)
class Process:
    """One API process: its runtime and a client of its app."""

    runtime: Runtime
    client: TestClient


@pytest.fixture
def two_processes(tmp_path: Path, database_url: str) -> Iterator[tuple[Process, Process]]:
    """Two runtimes and apps on one database, data directory and Redis (own channel)."""
    shared: dict[str, Any] = {
        "redis_url": service_url("FOREWARN_TEST_REDIS_URL"),
        "anomaly_channel": f"forewarn:test:{uuid.uuid4().hex}",
        "secret_key": secrets.token_urlsafe(40),
    }
    first = build_runtime(make_settings(tmp_path, database_url, **shared), migrate=False)
    # The second process skips its in-process cache, so every lookup goes to Redis.
    settings = make_settings(tmp_path, database_url, active_model_ttl_s=0, **shared)
    second = build_runtime(settings, migrate=False)
    try:
        with (
            TestClient(create_app(first, own_runtime=False)) as one,
            TestClient(create_app(second, own_runtime=False)) as two,
        ):
            assert first.anomalies.wait_ready(10) and second.anomalies.wait_ready(10)
            yield Process(first, one), Process(second, two)
    finally:
        first.close()
        second.close()


def test_each_process_clients_see_each_anomaly_once(
    two_processes: tuple[Process, Process],
) -> None:
    one, two = two_processes
    admin = seed_user(one.runtime, Role.ADMIN).headers
    viewer = token_of(seed_user(one.runtime, Role.VIEWER).headers)
    device = register_device(one.client, admin)
    trained_model(one.client, admin, device, normal_readings(200), **FOREST)
    url = ws_url(viewer, device_id=device)
    with one.client.websocket_connect(url) as ws_one, two.client.websocket_connect(url) as ws_two:
        confirmed(ws_one), confirmed(ws_two)
        # Each anomaly is scored after both clients received the previous one, so a
        # duplicate (an echo through Redis) would arrive before the next anomaly.
        seen_one, seen_two = [], []
        for hotter, process in enumerate((one, two, one)):
            hot(process.client, admin, device, value=HOT + 20.0 * hotter)
            seen_one.append(receive(ws_one)["id"])
            seen_two.append(receive(ws_two)["id"])
    stored = [row["id"] for row in anomalies(one.client, admin, device_id=device)["data"]]
    assert seen_one == seen_two == stored[::-1]
    assert len(set(stored)) == 3


@pytest.mark.slow
def test_the_active_model_comes_from_redis_and_retraining_invalidates_it(
    two_processes: tuple[Process, Process],
) -> None:
    one, two = two_processes
    admin = seed_user(one.runtime, Role.ADMIN).headers
    device = register_device(one.client, admin)
    trained_model(one.client, admin, device, normal_readings(200), **FOREST)
    assert hot(two.client, admin, device)["model_version"] == 1  # cached in Redis now
    hot(one.client, admin, device, value=HOT + 20.0)
    assert trained_model(one.client, admin, device, training_end=T0, **FOREST)["version"] == 2
    # Without the invalidation reaching Redis, the second process would still find version 1.
    assert hot(two.client, admin, device, value=HOT + 40.0)["model_version"] == 2


@pytest.mark.slow
def test_the_fanout_survives_a_redis_restart() -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    inbox_one: queue.Queue[Sequence[AnomalyEvent]] = queue.Queue()
    inbox_two: queue.Queue[Sequence[AnomalyEvent]] = queue.Queue()
    dropped = dropped_counter(CollectorRegistry())
    one = RedisFanout(url, "anomalies", inbox_one.put, queue_size=10, dropped=dropped)
    two = RedisFanout(url, "anomalies", inbox_two.put, queue_size=10, dropped=dropped)
    try:
        with server(redis_command(port), port):
            one.start()
            two.start()
            assert one.ready.wait(10) and two.ready.wait(10)
            first, second = event(), event()
            one.offer([first])
            assert inbox_two.get(timeout=10) == [first]
            two.offer([second])
            assert inbox_one.get(timeout=10) == [second]  # and not its own `first` before
        wait_until(lambda: not two.ready.is_set(), what="the listener noticing the outage")
        one.offer([event()])  # nobody can get this one: counted as dropped
        wait_until(lambda: one.dropped == 1, what="the lost anomaly being counted")
        with server(redis_command(port), port):
            assert one.ready.wait(15) and two.ready.wait(15)
            after = event()
            one.offer([after])
            assert inbox_two.get(timeout=10) == [after]
    finally:
        one.stop()
        two.stop()
    assert inbox_one.empty() and inbox_two.empty()


def test_anomalies_flow_locally_while_redis_is_down(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    runtime = build_runtime(settings, migrate=False)
    try:
        with TestClient(create_app(runtime, own_runtime=False)) as client:
            admin: Headers = seed_user(runtime, Role.ADMIN).headers
            device = register_device(client, admin)
            # The model cache falls back to the database.
            trained_model(client, admin, device, normal_readings(200), **FOREST)
            with client.websocket_connect(ws_url(token_of(admin))) as ws:
                confirmed(ws)
                verdict = hot(client, admin, device)
                assert receive(ws)["model_id"] == verdict["model_id"]
    finally:
        runtime.close()
