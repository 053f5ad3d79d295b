"""The broker side of ingest: a paho-mqtt 2.x client that never acknowledges on its own.

MQTT v5 with a persistent session (clean start off, a session expiry interval), QoS 1, and
manual acknowledgement: the PUBACK of a message is sent only when `ack` is called, after its
readings are committed. CONNECT carries Receive Maximum = FOREWARN_INGEST_MAX_PENDING, which
Mosquitto 2.x honours as the client's in-flight window (an MQTT 3.1.1 client gets the broker's
`max_inflight_messages`, 20 by default, which caps ack-after-commit throughput at a few hundred
messages a second). Lost connections are retried by paho's loop with exponential backoff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from forewarn.settings import Settings, SettingsError

_LOGGER = logging.getLogger(__name__)
_RECONNECT_MIN_S, _RECONNECT_MAX_S = 1, 30


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how to connect and what to subscribe to."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    client_id: str
    keepalive_s: int
    session_expiry_s: int
    receive_maximum: int
    subscription: str

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerConfig:
        """The broker of FOREWARN_MQTT_URL with the FOREWARN_MQTT_* options."""
        if not settings.mqtt_url:
            raise SettingsError("FOREWARN_MQTT_URL is not set")
        url = urlsplit(settings.mqtt_url)
        tls = url.scheme == "mqtts"
        return cls(
            host=url.hostname or "localhost",
            port=url.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password else None,
            client_id=settings.mqtt_client_id,
            keepalive_s=settings.mqtt_keepalive_s,
            session_expiry_s=settings.mqtt_session_expiry_s,
            receive_maximum=settings.ingest_max_pending,
            subscription=subscription(settings.mqtt_topic_root, settings.mqtt_shared_group),
        )


def subscription(topic_root: str, shared_group: str) -> str:
    """The topic filter: every device's telemetry, shared by a group when one is named."""
    topic = f"{topic_root}/devices/+/telemetry"
    return f"$share/{shared_group}/{topic}" if shared_group else topic


@dataclass(frozen=True, slots=True)
class AckToken:
    """What acknowledges one message: its packet id on one connection."""

    connection: int
    mid: int
    qos: int


OnMessage = Callable[[str, bytes, AckToken], None]


def _client(config: BrokerConfig) -> Client:
    """An MQTT v5 client that acknowledges only when told and reconnects with backoff."""
    client = Client(
        CallbackAPIVersion.VERSION2,
        client_id=config.client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.manual_ack_set(True)
    client.reconnect_delay_set(_RECONNECT_MIN_S, _RECONNECT_MAX_S)
    if config.username:
        client.username_pw_set(config.username, config.password)
    if config.tls:
        client.tls_set()
    return client


class MqttConsumer:
    """Subscribes with QoS 1 and hands every message to `on_message` with its ack token."""

    def __init__(self, config: BrokerConfig, on_message: OnMessage) -> None:
        self.config = config
        self.connected = threading.Event()
        self._on_message = on_message
        self._lock = threading.Lock()
        self._stopping = False
        self._failures = 0  # connection attempts failed in a row (logged on the first)
        self._connection = 0  # bumped on connect and disconnect: old packet ids are void
        client = _client(config)
        client.on_connect = self._connected
        client.on_connect_fail = self._connect_failed
        client.on_disconnect = self._disconnected
        client.on_subscribe = self._subscribed
        client.on_message = self._received
        self._client = client

    def start(self) -> None:
        """Connect in the background (retrying until the broker answers) and consume."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.config.session_expiry_s
        properties.ReceiveMaximum = self.config.receive_maximum
        self._client.connect_async(
            self.config.host,
            self.config.port,
            keepalive=self.config.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def ack(self, token: AckToken) -> None:
        """Acknowledge a message, unless it came on a connection since lost (the broker will
        send it again, and the upsert makes the second copy harmless)."""
        if token.qos == 0:
            return
        with self._lock:
            if token.connection == self._connection:
                self._client.ack(token.mid, token.qos)

    def stop(self) -> None:
        """Send the pending acks, disconnect (the session stays on the broker) and stop."""
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    def _connected(
        self,
        client: Client,
        _userdata: Any,
        flags: ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            _LOGGER.error("broker %s refused the connection: %s", self.config.host, reason)
            return
        with self._lock:
            self._connection += 1
        self._failures = 0
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        client.subscribe(self.config.subscription, options=options)
        _LOGGER.info(
            "connected to %s:%s as %s (session kept: %s)",
            self.config.host,
            self.config.port,
            self.config.client_id,
            flags.session_present,
        )

    def _connect_failed(self, _client: Client, _userdata: Any) -> None:
        self._failures += 1
        if self._failures == 1:
            _LOGGER.warning(
                "cannot reach the broker at %s:%s; retrying", self.config.host, self.config.port
            )

    def _subscribed(
        self,
        _client: Client,
        _userdata: Any,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        if any(reason.is_failure for reason in reasons):
            _LOGGER.error("subscription to %s refused: %s", self.config.subscription, reasons)
            return
        _LOGGER.info("subscribed to %s", self.config.subscription)
        self.connected.set()

    def _disconnected(
        self,
        _client: Client,
        _userdata: Any,
        _flags: DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            self._connection += 1
        if self.connected.is_set() and not self._stopping:
            _LOGGER.warning("lost the broker (%s); reconnecting", reason)
        self.connected.clear()

    def _received(self, _client: Client, _userdata: Any, message: MQTTMessage) -> None:
        token = AckToken(self._connection, message.mid, message.qos)
        try:
            topic = message.topic
        except UnicodeDecodeError:  # brokers refuse such topics; refused here as bad_topic
            topic = "(topic is not UTF-8)"
        payload = message.payload
        self._on_message(topic, payload if isinstance(payload, bytes) else bytes(payload), token)
