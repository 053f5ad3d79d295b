"""`forewarn ingest` and `forewarn serve` as processes: SIGKILL mid-stream, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from paho.mqtt.client import Client, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from forewarn.runtime import Runtime, build_runtime
from forewarn.settings import Settings
from tests.factories import T0, make_device, make_settings
from tests.ingest.faults import own_broker
from tests.ingest.helpers import Publisher, ingest_settings, telemetry, topic_of
from tests.support import free_port, wait_until

pytestmark = pytest.mark.slow

FOREWARN = Path(sys.executable).with_name("forewarn")


def environment(settings: Settings) -> dict[str, str]:
    """FOREWARN_* variables that reproduce the test's settings in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    assert settings.secret_key is not None and settings.mqtt_url is not None
    env.update(
        FOREWARN_DATA_DIR=str(settings.data_dir),
        FOREWARN_SECRET_KEY=settings.secret_key.get_secret_value(),
        FOREWARN_MQTT_URL=settings.mqtt_url,
        FOREWARN_MQTT_TOPIC_ROOT=settings.mqtt_topic_root,
        FOREWARN_MQTT_CLIENT_ID=settings.mqtt_client_id,
        FOREWARN_MQTT_SESSION_EXPIRY_S=str(settings.mqtt_session_expiry_s),
        FOREWARN_INGEST_BATCH_LATENCY_MS=str(settings.ingest_batch_latency_ms),
    )
    if settings.database_url:
        env["FOREWARN_DATABASE_URL"] = settings.database_url
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a forewarn command and wait until its MQTT subscription is in place."""
    with log.open("ab") as sink:
        process = subprocess.Popen([str(FOREWARN), *args], env=env, stdout=sink, stderr=sink)
    before = log.read_text().count("subscribed to ")  # the log is appended to by each start

    def subscribed() -> bool:
        assert process.poll() is None, log.read_text()
        return log.read_text().count("subscribed to ") > before

    wait_until(subscribed, 60, f"{args[0]} to subscribe")
    return process


def answers(url: str) -> bool:
    """True once an HTTP server answers at `url`."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def leftover_messages(mqtt_url: str, client_id: str) -> int:
    """Messages the broker still holds for a session (ones it never saw acknowledged)."""
    url = urlsplit(mqtt_url)
    got: list[MQTTMessage] = []
    client = Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.on_message = lambda _c, _u, message: got.append(message)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 0  # and end the session afterwards
    client.connect(
        url.hostname or "127.0.0.1", url.port or 1883, clean_start=False, properties=properties
    )
    client.loop_start()
    threading.Event().wait(1.0)  # a resumed session delivers what it holds at once
    client.disconnect()
    client.loop_stop()
    return len(got)


def test_sigkill_mid_stream_loses_no_acknowledged_message(tmp_path: Path, pg_url: str) -> None:
    broker = own_broker(tmp_path)
    settings = ingest_settings(tmp_path, pg_url, broker.url)
    env, log = environment(settings), tmp_path / "ingest.log"
    direct: Runtime = build_runtime(make_settings(tmp_path / "direct", pg_url), migrate=False)
    publisher = Publisher(broker.url, persistent=True)
    sent = 3000  # over about 3 s; the consumer is killed once 500 are stored
    try:
        pump = make_device(direct)
        first = start(["ingest"], env, log)
        streaming = threading.Thread(
            target=publisher.publish_stream, args=(topic_of(settings, pump), 0, sent, 1000)
        )
        streaming.start()
        wait_until(lambda: len(telemetry(direct, pump)) >= 500, 30, "500 readings stored")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        stored_at_kill = len(telemetry(direct, pump))
        second = start(["ingest"], env, log)  # same client id: resumes the broker session
        streaming.join()
        publisher.wait_acked(sent, timeout_s=60)
        wait_until(lambda: len(telemetry(direct, pump)) == sent, 60, f"{sent} readings stored")
        stored = telemetry(direct, pump)

        second.send_signal(signal.SIGTERM)  # clean stop: commit, ack, disconnect
        assert second.wait(30) == 0, log.read_text()[-2000:]
        left = leftover_messages(broker.url, settings.mqtt_client_id)
    finally:
        publisher.close()
        broker.stop()
        direct.close()

    assert first.returncode == -signal.SIGKILL and stored_at_kill < sent
    assert stored == [("seq", T0 + i, float(i)) for i in range(sent)]
    assert left == 0  # every message was acknowledged before the clean stop
    assert "acknowledged" in log.read_text()  # the summary table of the clean stop


def test_serve_ingests_mqtt_when_a_broker_is_configured(tmp_path: Path, mqtt_url: str) -> None:
    data_dir = tmp_path / "data"
    settings = ingest_settings(tmp_path, f"sqlite:///{data_dir / 'forewarn.db'}", mqtt_url)
    env, log = environment(settings), tmp_path / "serve.log"
    port = str(free_port())
    server = start(["serve", "--host", "127.0.0.1", "--port", port], env, log)
    runtime = build_runtime(settings, migrate=False)  # the server migrated the SQLite file
    publisher = Publisher(mqtt_url)
    try:
        pump = make_device(runtime)
        publisher.publish(topic_of(settings, pump), b'{"ts": 1730000000000, "values": {"t": 4.5}}')
        wait_until(lambda: telemetry(runtime, pump) == [("t", T0, 4.5)], 30, "the reading")
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/api/v1/health"), 30, "the API")
        server.send_signal(signal.SIGTERM)  # uvicorn stops, then ingest commits and disconnects
        assert server.wait(30) == 0, log.read_text()[-2000:]
    finally:
        publisher.close()
        runtime.close()
        if server.poll() is None:
            server.kill()
    assert "MQTT ingest: " in log.read_text()
    assert leftover_messages(mqtt_url, settings.mqtt_client_id) == 0
