"""Observers of the MQTT benchmark: when each reading was published, when its row became
visible in PostgreSQL, when its anomaly came back over MQTT, and the ingest's memory.

All times are wall-clock (`time.time()`), taken on this machine, so they compare directly.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections import deque
from datetime import datetime
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import psycopg
from _mqtt_stack import rss_mb
from _server import percentile
from paho.mqtt.enums import CallbackAPIVersion

from forewarn.sim.fleet import Message

ANOMALY_TOPIC = "forewarn/v1/devices/+/anomalies"
POLL_S = 0.02
KEEP_S = 120.0  # publish times older than this are forgotten (bounded memory on long runs)
_PROBE_QUERY = (
    "SELECT device_id, ts FROM telemetry WHERE device_id = ANY(%s) "
    "AND metric_name = 'temperature' AND ts > %s ORDER BY device_id, ts"
)


class SentLog:
    """Publish wall time of each recent reading, by (device index, ts)."""

    def __init__(self) -> None:
        self.at: dict[tuple[int, int], float] = {}
        self._order: deque[tuple[float, tuple[int, int]]] = deque()
        self.measure_from = math.inf  # readings published earlier are warm-up

    def on_sent(self, message: Message, sent_at: float) -> None:
        """The publisher's hook: note every reading of the message."""
        for ts in message.ts:
            key = (message.device, ts)
            self.at[key] = sent_at
            self._order.append((sent_at, key))
        while self._order and self._order[0][0] < sent_at - KEEP_S:
            self.at.pop(self._order.popleft()[1], None)

    def latency_ms(self, device: int, ts: int, seen_at: float) -> float | None:
        """Milliseconds from publishing the reading to `seen_at`, if it was measured."""
        sent = self.at.get((device, ts))
        if sent is None or sent < self.measure_from:
            return None
        return (seen_at - sent) * 1000


class CommitPoller(threading.Thread):
    """Polls the probe devices' temperature every POLL_S; a new row's latency is the poll's
    start (its snapshot holds the row, so it was committed before) minus its publish time."""

    def __init__(self, db_url: str, probes: list[uuid.UUID], index: dict[str, int],
                 sent: SentLog, since_ms: int) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self._db_url, self._probes, self._index, self._sent = db_url, probes, index, sent
        self._last = {str(p): since_ms for p in probes}
        self.stopping = threading.Event()
        self.latencies: list[float] = []
        self.cycles_ms: list[float] = []  # poll start to poll start: the resolution

    def run(self) -> None:
        """Poll until stopped."""
        with psycopg.connect(self._db_url, autocommit=True, application_name="bench") as conn:
            while not self.stopping.is_set():
                seen_at = time.time()
                since = min(self._last.values())
                for device_id, ts in conn.execute(_PROBE_QUERY, (self._probes, since)):
                    self._saw(str(device_id), int(ts), seen_at)
                self.stopping.wait(POLL_S)
                self.cycles_ms.append((time.time() - seen_at) * 1000)

    def _saw(self, device_id: str, ts: int, seen_at: float) -> None:
        if ts <= self._last[device_id]:
            return
        self._last[device_id] = ts
        latency = self._sent.latency_ms(self._index[device_id], ts, seen_at)
        if latency is not None:
            self.latencies.append(latency)


class AnomalyWatch:
    """Subscribed to every device's anomalies; matches each to its reading's publish time."""

    def __init__(self, url: str, index: dict[str, int], sent: SentLog) -> None:
        self._index, self._sent = index, sent
        self.received = 0
        self.latencies: list[float] = []
        subscribed = threading.Event()
        host, port = url.removeprefix("mqtt://").rsplit(":", 1)
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self._client.on_connect = lambda c, *_: c.subscribe(ANOMALY_TOPIC, qos=1)
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, int(port))
        self._client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError(f"no SUBACK for {ANOMALY_TOPIC}")

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        seen_at = time.time()
        self.received += 1
        body = json.loads(message.payload)
        device = self._index.get(str(body.get("device_id")))
        if device is not None:
            latency = self._sent.latency_ms(device, _epoch_ms(body["ts"]), seen_at)
            if latency is not None:
                self.latencies.append(latency)

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def _epoch_ms(value: int | str) -> int:
    """An anomaly's ts: epoch ms, or ISO 8601 as the stream sends it."""
    if isinstance(value, int):
        return value
    return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


class RssSampler(threading.Thread):
    """Resident memory of one process, every second: (seconds since start, MiB)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples = pid, []  # type: list[tuple[float, float]]
        self.stopping = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        t0 = time.monotonic()
        while not self.stopping.wait(1.0):
            self.samples.append((time.monotonic() - t0, rss_mb(self.pid)))


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max (nan when empty)."""
    ordered = sorted(values)
    top = ordered[-1] if ordered else math.nan
    return percentile(ordered, 0.5), percentile(ordered, 0.99), top


def rss_trend(
    samples: list[tuple[float, float]], skip_s: float
) -> tuple[float, float, float, float]:
    """RSS after warm-up, at the end, the peak, and the slope over the second half (MiB/min)."""
    kept = [(t, mb) for t, mb in samples if t >= skip_s]
    if len(kept) < 4:
        return math.nan, math.nan, math.nan, math.nan
    half = kept[len(kept) // 2 :]
    slope = float(np.polyfit([t for t, _ in half], [mb for _, mb in half], 1)[0]) * 60
    return kept[0][1], kept[-1][1], max(mb for _, mb in kept), slope
