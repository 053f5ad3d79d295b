"""Helpers of the ingest tests: settings, topics, stored rows, a counting publisher."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import select

from forewarn.db.models import DeadLetter, Telemetry
from forewarn.ingest.service import IngestService
from forewarn.runtime import Runtime, build_runtime
from forewarn.settings import Settings
from tests.factories import T0, make_settings
from tests.support import wait_until


def ingest_settings(tmp_path: Path, database_url: str, mqtt_url: str, **overrides: Any) -> Settings:
    """Settings of one ingest consumer with its own topic root and client id."""
    values: dict[str, Any] = {
        "mqtt_url": mqtt_url,
        "mqtt_topic_root": f"test-{secrets.token_hex(4)}/forewarn/v1",
        "mqtt_client_id": f"test-ingest-{secrets.token_hex(4)}",
        "mqtt_session_expiry_s": 300,  # the shared broker forgets test sessions soon
        "ingest_batch_latency_ms": 20,
        **overrides,
    }
    return make_settings(tmp_path, database_url, **values)


def topic_of(settings: Settings, device_id: uuid.UUID | str) -> str:
    """The telemetry topic of a device under the settings' root."""
    return f"{settings.mqtt_topic_root}/devices/{device_id}/telemetry"


def stream_payload(i: int) -> bytes:
    """Message i of a numbered stream: one reading at T0 + i ms with value i."""
    return json.dumps({"ts": T0 + i, "values": {"seq": float(i)}}).encode()


def telemetry(runtime: Runtime, device_id: uuid.UUID) -> list[tuple[str, int, float]]:
    """Every stored (metric, ts, value) of a device, by time then metric."""
    with runtime.sessions() as session:
        query = select(Telemetry.metric_name, Telemetry.ts, Telemetry.value)
        rows = session.execute(
            query.where(Telemetry.device_id == device_id).order_by(
                Telemetry.ts, Telemetry.metric_name
            )
        )
        return [(m, t, v) for m, t, v in rows]


def dead_letters(runtime: Runtime) -> list[DeadLetter]:
    """Every stored dead letter, oldest first."""
    with runtime.sessions() as session:
        return list(session.scalars(select(DeadLetter).order_by(DeadLetter.received_at)))


class Publisher:
    """A QoS 1 publisher (MQTT 3.1.1) that counts the broker's PUBACKs.

    paho keeps unacknowledged messages and sends them again after a reconnect, so a broker
    restart may deliver a message twice (which ingest must absorb).
    """

    def __init__(self, mqtt_url: str, *, persistent: bool = False) -> None:
        url = urlsplit(mqtt_url)
        self.acked = 0
        self._lock = threading.Lock()
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-pub-{secrets.token_hex(4)}",
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=not persistent,
        )
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 2)
        client.on_publish = self._on_publish
        client.connect(url.hostname or "127.0.0.1", url.port or 1883)
        client.loop_start()
        self._client = client

    def _on_publish(self, *_args: Any) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue one QoS 1 message (sent now, or after a reconnect)."""
        self._client.publish(topic, payload, qos=1)

    def publish_stream(self, topic: str, first: int, count: int, per_s: float = 0) -> None:
        """Messages first..first+count-1 of the numbered stream, paced at `per_s` if given."""
        start = time.monotonic()
        for n, i in enumerate(range(first, first + count)):
            self.publish(topic, stream_payload(i))
            if per_s:
                ahead = start + n / per_s - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)

    def wait_acked(self, count: int, timeout_s: float = 30) -> None:
        """Wait until the broker has acknowledged `count` messages."""
        wait_until(lambda: self.acked >= count, timeout_s, f"{count} PUBACKs (got {self.acked})")

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


@contextmanager
def running_service(settings: Settings) -> Iterator[tuple[Runtime, IngestService]]:
    """A runtime and a started, subscribed ingest service; stopped and closed afterwards."""
    runtime = build_runtime(settings, migrate=False)
    service = IngestService(runtime)
    try:
        service.start()
        assert service.consumer.connected.wait(10), "ingest did not subscribe within 10 s"
        yield runtime, service
    finally:
        service.stop()
        runtime.close()
