"""MQTT: each committed anomaly reaches subscribers of its device's topic, also after an outage."""

from __future__ import annotations

import json
import queue
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from paho.mqtt.client import Client, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion

from forewarn.api.app import create_app
from forewarn.pipeline.predict import ReadingIn, SeriesIn
from forewarn.runtime import Runtime, build_runtime
from forewarn.scoring.scorer import now_ms
from forewarn.security.roles import Role
from forewarn.stream.mqtt_publisher import parse_broker_url
from tests.api.helpers import anomalies
from tests.factories import (
    FOREST,
    JSON,
    make_settings,
    normal_readings,
    register_device,
    seed_user,
    trained_model,
)
from tests.stream.helpers import HOT, hot
from tests.support import free_port, mosquitto_command, server, service_url, wait_until

Inbox = queue.Queue[MQTTMessage]


@contextmanager
def subscriber(url: str, topic: str, client_id: str = "") -> Iterator[Inbox]:
    """A paho client subscribed (QoS 1) to `topic`; a client id makes its session persistent."""
    address = parse_broker_url(url)
    inbox: Inbox = queue.Queue()
    subscribed = threading.Event()
    client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not client_id)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, message: inbox.put(message)
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        assert subscribed.wait(10), "the test subscriber could not subscribe"
        yield inbox
    finally:
        client.disconnect()
        client.loop_stop()


def _topic(device: str) -> str:
    return f"forewarn/v1/devices/{device}/anomalies"


def _payload(inbox: Inbox) -> JSON:
    message = inbox.get(timeout=15)
    assert message.qos == 1
    payload: JSON = json.loads(message.payload)
    return payload


@contextmanager
def _app(runtime: Runtime) -> Iterator[TestClient]:
    try:
        with TestClient(create_app(runtime, own_runtime=False)) as client:
            yield client
    finally:
        runtime.close()


def test_an_anomaly_is_published_to_its_device_topic(tmp_path: Path, database_url: str) -> None:
    url = service_url("FOREWARN_TEST_MQTT_URL")
    runtime = build_runtime(make_settings(tmp_path, database_url, mqtt_url=url), migrate=False)
    with _app(runtime) as client:
        admin = seed_user(runtime, Role.ADMIN).headers
        device, other = register_device(client, admin), register_device(client, admin, name="Fan")
        for each in (device, other):
            trained_model(client, admin, each, normal_readings(200), **FOREST)
        assert runtime.anomalies.wait_ready(10)
        with subscriber(url, _topic(device)) as inbox:
            hot(client, admin, other)  # another topic
            verdict = hot(client, admin, device)
            payload = _payload(inbox)
        stored = anomalies(client, admin, device_id=device)["data"]
    assert payload == {"type": "anomaly", **stored[0], "ts": payload["ts"]}
    assert payload["model_id"] == verdict["model_id"] and inbox.empty()


@pytest.mark.slow
def test_a_cli_process_publishes_without_being_started(tmp_path: Path, database_url: str) -> None:
    url = service_url("FOREWARN_TEST_MQTT_URL")
    secret = secrets.token_urlsafe(40)
    api = build_runtime(make_settings(tmp_path, database_url, secret_key=secret), migrate=False)
    with _app(api) as client:
        admin = seed_user(api, Role.ADMIN).headers
        device = register_device(client, admin)
        trained_model(client, admin, device, normal_readings(200), **FOREST)
    # Like `forewarn import-csv`: build a runtime, score, close; start() is never called.
    settings = make_settings(tmp_path, database_url, secret_key=secret, mqtt_url=url)
    cli = build_runtime(settings, migrate=False)
    reading = ReadingIn(now_ms(), HOT, ("body",))
    with subscriber(url, _topic(device)) as inbox:
        try:
            with cli.sessions() as session:
                series = SeriesIn(uuid.UUID(device), "temperature", [reading])
                [scored] = cli.pipeline.predict(session, [series])
                assert scored.verdicts[0].is_anomaly
        finally:
            cli.close()  # waits for the broker's acknowledgement
        assert _payload(inbox)["value"] == HOT


@pytest.mark.slow
def test_a_broker_outage_neither_blocks_scoring_nor_loses_queued_anomalies(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    folder = tmp_path / "broker"
    folder.mkdir()
    runtime = build_runtime(make_settings(tmp_path, database_url, mqtt_url=url), migrate=False)
    with _app(runtime) as client:
        admin = seed_user(runtime, Role.ADMIN).headers
        device = register_device(client, admin)
        trained_model(client, admin, device, normal_readings(200), **FOREST)
        topic, watcher = _topic(device), f"watcher-{uuid.uuid4().hex[:8]}"
        with server(mosquitto_command(port, folder), port):
            assert runtime.anomalies.wait_ready(10)
            with subscriber(url, topic, client_id=watcher):
                pass  # leaves a persistent session that queues messages while it is away
        wait_until(lambda: not runtime.anomalies.sinks[0].ready.is_set(), what="disconnect")
        # The broker is down; each reading hotter than the last opens an event of its own.
        verdicts = [hot(client, admin, device, value=HOT + 20.0 * i) for i in range(3)]
        with (
            server(mosquitto_command(port, folder), port),
            subscriber(url, topic, watcher) as inbox,
        ):
            received = [_payload(inbox) for _ in verdicts]
    stored = {row["id"] for row in anomalies(client, admin, device_id=device)["data"]}
    assert {message["id"] for message in received} == stored
    assert runtime.anomalies.sinks[0].dropped == 0
