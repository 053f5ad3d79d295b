"""Publish each committed anomaly to MQTT: `forewarn/v1/devices/{device_id}/anomalies`, QoS 1.

paho keeps the connection (reconnecting on its own, 1 s to 30 s apart) and holds a bounded
number of unacknowledged messages, which it sends again after a reconnect. Scoring only
touches our own bounded queue, so a broker outage never slows it down; what does not fit
in either queue is dropped and counted.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import Counter

from forewarn.stream.events import AnomalyEvent
from forewarn.stream.sink import QueuedSink

_LOGGER = logging.getLogger(__name__)
_KEEPALIVE_S = 30
_FLUSH_WAIT_S = 2.0


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is and how to log in, from an mqtt:// or mqtts:// URL."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_broker_url(url: str) -> BrokerAddress:
    """mqtt://[user:pass@]host[:port] (1883) or mqtts://… (TLS, 8883); ValueError otherwise."""
    parts = urlsplit(url)
    tls = {"mqtt": False, "tcp": False, "mqtts": True, "ssl": True}.get(parts.scheme)
    if tls is None or not parts.hostname:
        raise ValueError("FOREWARN_MQTT_URL must look like mqtt://host:1883 or mqtts://host:8883")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return BrokerAddress(
        parts.hostname, parts.port or (8883 if tls else 1883), tls, username, password
    )


class MqttPublisher(QueuedSink):
    """Sends every anomaly, JSON as on the WebSocket, to its device's anomaly topic."""

    name = "mqtt"

    def __init__(self, url: str, topic: str, *, queue_size: int, dropped: Counter) -> None:
        super().__init__(queue_size=queue_size, dropped=dropped)
        self._address = parse_broker_url(url)
        self._topic = topic
        self._unacked = 0  # handed to paho, not acknowledged by the broker yet
        self._closing = False
        self._acked = threading.Condition()
        self._client = Client(
            CallbackAPIVersion.VERSION2, client_id=f"forewarn-anomalies-{uuid.uuid4().hex[:12]}"
        )
        self._client.max_queued_messages_set(queue_size)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        if self._address.username is not None:
            self._client.username_pw_set(self._address.username, self._address.password)
        if self._address.tls:
            self._client.tls_set()
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish

    def topic_for(self, event: AnomalyEvent) -> str:
        """The topic an anomaly is published on."""
        return self._topic.format(device_id=event.device_id)

    def open(self) -> None:
        """Connect in the background; paho retries until the broker answers."""
        self._client.connect_async(self._address.host, self._address.port, _KEEPALIVE_S)
        self._client.loop_start()

    def send(self, batch: list[AnomalyEvent]) -> None:
        """Hand each anomaly to paho (QoS 1); count those its full queue refuses."""
        refused = 0
        for event in batch:
            with self._acked:  # counted first: the acknowledgement may beat publish()'s return
                self._unacked += 1
            info = self._client.publish(self.topic_for(event), event.text, qos=1)
            if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                refused += 1
                self._on_publish()
            # otherwise sent, or kept by paho until the connection is back
        if refused:
            self.count_dropped(refused, "MQTT queue full")
        else:
            self.sent_ok()

    def close(self) -> None:
        """Wait briefly for unacknowledged messages (a CLI run may end at once), then disconnect."""
        with self._acked:
            if not self._acked.wait_for(lambda: self._unacked == 0, timeout=_FLUSH_WAIT_S):
                _LOGGER.warning("%s anomalies not acknowledged by MQTT at shutdown", self._unacked)
        self._closing = True
        self._client.disconnect()
        self._client.loop_stop()

    def _on_publish(self, *_args: Any) -> None:
        with self._acked:
            self._unacked -= 1
            self._acked.notify_all()

    def _on_connect(
        self, _client: Client, _data: Any, _flags: ConnectFlags, code: ReasonCode, _props: Any
    ) -> None:
        if code.is_failure:
            _LOGGER.warning("MQTT broker refused the anomaly publisher: %s", code)
            return
        _LOGGER.info("publishing anomalies to MQTT %s:%s", self._address.host, self._address.port)
        self.ready.set()

    def _on_disconnect(
        self,
        _client: Client,
        _data: Any,
        _flags: DisconnectFlags,
        code: ReasonCode,
        _props: Any,
    ) -> None:
        if self.ready.is_set() and not self._closing:
            _LOGGER.warning("MQTT anomaly publisher disconnected (%s); reconnecting", code)
        self.ready.clear()
