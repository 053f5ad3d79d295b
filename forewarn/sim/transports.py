"""Where the simulator's messages go: an MQTT broker (paho-mqtt) or the HTTP API (stdlib)."""

from __future__ import annotations

import contextlib
import http.client
import logging
import time
import uuid
from typing import Any, Protocol
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from forewarn.errors import InvalidInputError, PublishError

_LOGGER = logging.getLogger(__name__)
TELEMETRY_TOPIC = "{root}/devices/{device_id}/telemetry"
TELEMETRY_PATH = "/api/v1/devices/{device_id}/telemetry"
MQTT_PORTS = {"mqtt": 1883, "mqtts": 8883}
CONNECT_TIMEOUT_S = 10.0
INFLIGHT_WINDOW = 1000  # QoS 1/2 messages on the wire; paho queues the rest
MAX_UNACKED = 10_000  # send() waits for acknowledgements beyond this
READ_EVERY = 32  # sends between two reads of the broker's acknowledgements
RECONNECT_EVERY_S = 1.0
_LOST = (mqtt.MQTT_ERR_CONN_LOST, mqtt.MQTT_ERR_NO_CONN)


class Transport(Protocol):
    """Sends one device's payloads and counts acknowledgements and failures."""

    acked: int
    errors: int

    def send(self, device_id: uuid.UUID, payload: bytes) -> None:
        """Send one payload of one device (waits while too much is unacknowledged)."""

    def idle(self, seconds: float) -> None:
        """Wait `seconds`, keeping the connection alive."""

    def close(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for acknowledgements, then disconnect."""


class MqttTransport:
    """Publishes to `{root}/devices/{id}/telemetry`; broker acknowledgements count as `acked`.

    paho runs in the caller's thread (no network thread): publish() writes straight to the
    socket and acknowledgements are read between sends and while idle. That halves the CPU
    per message, which matters when simulator, broker and ingest share two cores.
    """

    def __init__(
        self, url: str, *, qos: int = 1, client_id: str | None = None, root: str = "forewarn/v1"
    ) -> None:
        if qos not in (0, 1, 2):
            raise InvalidInputError(("qos",), f"must be 0, 1 or 2, got {qos}")
        self.qos, self.root, self.acked, self.errors, self._sent = qos, root, 0, 0, 0
        self._connected = False
        self._retry_at = 0.0
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"forewarn-sim-{uuid.uuid4().hex[:12]}",
        )
        self._client.on_connect = self._on_connect
        self._client.on_publish = self._on_publish
        self._client.max_inflight_messages_set(INFLIGHT_WINDOW)
        self._client.max_queued_messages_set(0)  # bounded by MAX_UNACKED instead
        self._connect(url)

    def _connect(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in MQTT_PORTS or not parts.hostname:
            raise InvalidInputError(("mqtt_url",), f"must look like mqtt://host:1883, got {url!r}")
        if parts.username:
            self._client.username_pw_set(parts.username, parts.password)
        if parts.scheme == "mqtts":
            self._client.tls_set()
        where = f"{parts.hostname}:{parts.port or MQTT_PORTS[parts.scheme]}"
        try:
            self._client.connect(parts.hostname, parts.port or MQTT_PORTS[parts.scheme], 30)
        except OSError as err:
            raise PublishError(f"cannot reach the MQTT broker at {where}") from err
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not self._connected and time.monotonic() < deadline:
            if self._client.loop(0.1) in _LOST:
                break
        if not self._connected:
            raise PublishError(f"MQTT broker at {where} refused the connection")

    def _on_connect(
        self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any = None
    ) -> None:
        if reason.is_failure:
            _LOGGER.warning("MQTT connection refused: %s", reason)
        self._connected = not reason.is_failure

    def _on_publish(self, _c: mqtt.Client, _u: Any, _mid: int, _r: Any, _p: Any = None) -> None:
        self.acked += 1

    def send(self, device_id: uuid.UUID, payload: bytes) -> None:
        """Publish one message; paho keeps it (and resends it after a reconnect) until acked."""
        while self.pending() >= MAX_UNACKED:
            self._read(0.01)
        topic = TELEMETRY_TOPIC.format(root=self.root, device_id=device_id)
        info = self._client.publish(topic, payload, qos=self.qos)
        self._sent += 1
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.errors += 1  # NO_CONN with QoS > 0 is queued and sent after reconnecting
            _LOGGER.warning("MQTT publish failed: %s", mqtt.error_string(info.rc))
        if self._sent % READ_EVERY == 0:
            self._read(0.0)

    def idle(self, seconds: float) -> None:
        """Read acknowledgements (and keep the connection alive) for `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._read(left)

    def _read(self, timeout_s: float) -> None:
        """One pass of paho's loop; after losing the broker, reconnect at most once a second."""
        if self._client.loop(timeout_s) not in _LOST:
            return
        self._connected = False
        time.sleep(min(timeout_s, 0.01))  # loop() returns at once while disconnected
        if time.monotonic() >= self._retry_at:
            self._retry_at = time.monotonic() + RECONNECT_EVERY_S
            _LOGGER.warning("lost the MQTT broker; reconnecting")
            with contextlib.suppress(OSError):
                self._client.reconnect()

    def pending(self) -> int:
        """Messages not yet acknowledged by the broker."""
        return self._sent - self.acked - self.errors

    def close(self, timeout_s: float) -> None:
        """Wait for the broker's acknowledgements, then disconnect."""
        deadline = time.monotonic() + timeout_s
        while self.pending() > 0 and time.monotonic() < deadline:
            self._read(0.05)
        self._client.disconnect()


class HttpTransport:
    """POSTs each payload to the device's telemetry endpoint with a bearer token."""

    def __init__(self, api_url: str, token: str, *, timeout_s: float = 30.0) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(
                ("api_url",), f"must look like http://host:8000, got {api_url!r}"
            )
        connection = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self._conn = connection(parts.hostname, parts.port, timeout=timeout_s)
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.acked = self.errors = 0

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One request on the kept-alive connection: (status, body); PublishError if unreachable."""
        try:
            self._conn.request(method, self._prefix + path, body=body, headers=self._headers)
            response = self._conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as err:
            self._conn.close()  # reconnects on the next request
            raise PublishError(f"API request failed: {err.__class__.__name__}") from err

    def send(self, device_id: uuid.UUID, payload: bytes) -> None:
        """POST one payload; a non-2xx answer or a network failure counts as an error."""
        try:
            status, body = self.request("POST", TELEMETRY_PATH.format(device_id=device_id), payload)
        except PublishError as err:
            self.errors += 1
            _LOGGER.warning("%s", err)
            return
        if 200 <= status < 300:
            self.acked += 1
            return
        self.errors += 1
        if self.errors <= 3:  # enough to see why, without flooding the log
            _LOGGER.warning("API answered %s: %s", status, body[:200].decode(errors="replace"))

    def idle(self, seconds: float) -> None:
        """Sleep: nothing to keep alive between requests."""
        time.sleep(seconds)

    def close(self, timeout_s: float) -> None:
        """Close the connection."""
        del timeout_s
        self._conn.close()
