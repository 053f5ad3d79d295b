"""MQTT ingest of one process: broker -> payload check -> batches -> reading pipeline -> acks.

Threads: paho's network thread parses each message and queues it; one writer thread commits
batches and then acknowledges their messages. Nothing is acknowledged before its readings (or
its dead letter) are committed, so a crash loses nothing the broker still holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from forewarn.ingest.batcher import Batcher, BatchLimits
from forewarn.ingest.mqtt import AckToken, BrokerConfig, MqttConsumer
from forewarn.ingest.payloads import PayloadRules, parse_message
from forewarn.ingest.writer import BatchResult, BatchWriter, Delivery
from forewarn.runtime import Runtime
from forewarn.telemetry.dead_letters import EXCERPT_BYTES, KindLog


@dataclass
class IngestStats:
    """Counts since start: messages received and acknowledged, what they stored."""

    received: int = 0
    acknowledged: int = 0
    batches: int = 0
    readings: int = 0
    scored: int = 0
    anomalies: int = 0
    dead_letters: int = 0


def _weight(delivery: Delivery) -> int:
    """A batch's size counts readings; a refused message counts as one."""
    return max(1, delivery.readings)


class IngestService:
    """MQTT telemetry into the database, batched, scored, acknowledged after commit."""

    def __init__(self, runtime: Runtime, clock: Callable[[], float] = time.time) -> None:
        settings = runtime.settings
        self.stats = IngestStats()
        self._clock = clock
        self._rules = PayloadRules(settings.mqtt_topic_root, settings.ingest_max_payload_bytes)
        self._kinds = KindLog(runtime.metrics.dead_letters)
        limits = BatchLimits(
            max_weight=settings.ingest_batch_size,
            max_latency_s=settings.ingest_batch_latency_ms / 1000,
            max_pending=settings.ingest_max_pending,
        )
        self._batcher: Batcher[Delivery, BatchResult] = Batcher(
            BatchWriter(runtime.sessions, runtime.pipeline).write,
            self._acknowledge,
            _weight,
            limits,
        )
        self.consumer = MqttConsumer(BrokerConfig.from_settings(settings), self.receive)

    @property
    def peak_pending(self) -> int:
        """The most messages ever queued at once (bounded by ingest_max_pending)."""
        return self._batcher.peak_pending

    def start(self) -> None:
        """Start the writer, then connect and consume."""
        self._batcher.start()
        self.consumer.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Commit and acknowledge what was received, then disconnect; later messages stay
        on the broker for the next start."""
        self._batcher.stop(timeout_s)
        self.consumer.stop()

    def receive(self, topic: str, payload: bytes, ack: AckToken) -> None:
        """Check one message and queue it (waits while the queue is full)."""
        received_ms = int(self._clock() * 1000)
        outcome = parse_message(topic, payload, received_ms, self._rules)
        delivery = Delivery(ack, topic, payload[:EXCERPT_BYTES], received_ms, outcome)
        if self._batcher.put(delivery):
            self.stats.received += 1

    def _acknowledge(self, batch: list[Delivery], result: BatchResult) -> None:
        """After commit: acknowledge every message of the batch, then count."""
        for delivery in batch:
            self.consumer.ack(delivery.ack)
        self._kinds.committed(result.dead_letters)
        stats = self.stats
        stats.acknowledged += len(batch)
        stats.batches += 1
        stats.readings += result.readings
        stats.scored += result.scored
        stats.anomalies += result.anomalies
        stats.dead_letters += len(result.dead_letters)
