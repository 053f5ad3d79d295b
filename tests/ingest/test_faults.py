"""Faults against the real services: a broker restart and a 10 s database outage mid-stream.

Each test publishes a numbered stream (message i: one reading `seq` = i at T0 + i ms) with
QoS 1, waits for the broker's PUBACK of every message, and then proves the table holds
exactly the stream: every number once, nothing else.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from forewarn.runtime import build_runtime
from tests.factories import T0, make_device, make_settings
from tests.ingest.faults import TcpProxy, own_broker
from tests.ingest.helpers import Publisher, ingest_settings, running_service, telemetry, topic_of
from tests.support import wait_until

pytestmark = pytest.mark.slow

OUTAGE_S = 10.0


def stream(count: int, first: int = 0) -> list[tuple[str, int, float]]:
    """The rows a numbered stream must leave in the table."""
    return [("seq", T0 + i, float(i)) for i in range(first, first + count)]


def test_a_broker_restart_mid_stream_loses_and_doubles_nothing(tmp_path: Path, pg_url: str) -> None:
    broker = own_broker(tmp_path)
    sent = 3000  # over about 3 s; the broker restarts after the first 500 are committed
    publisher = Publisher(broker.url, persistent=True)
    settings = ingest_settings(tmp_path, pg_url, broker.url)
    try:
        with running_service(settings) as (runtime, service):
            pump = make_device(runtime)
            streaming = threading.Thread(
                target=publisher.publish_stream, args=(topic_of(settings, pump), 0, sent, 1000)
            )
            streaming.start()
            wait_until(lambda: service.stats.acknowledged >= 500, 30, "500 messages committed")
            acked_before_restart = publisher.acked
            broker.restart()
            streaming.join()
            publisher.wait_acked(sent, timeout_s=60)
            wait_until(lambda: service.stats.readings >= sent, 60, f"{sent} readings committed")
            stored = telemetry(runtime, pump)
    finally:
        publisher.close()
        broker.stop()

    assert acked_before_restart < sent  # the restart really fell inside the stream
    assert stored == stream(sent)  # every message exactly once
    # Redelivered copies (paho resends unacked publishes; the broker resends unacked
    # deliveries) reached the consumer and were absorbed by the upsert.
    assert service.stats.received >= sent


def test_readings_wait_out_a_database_outage_and_land_afterwards(
    tmp_path: Path, pg_url: str, mqtt_url: str
) -> None:
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    window = 200  # ingest_max_pending: MQTT Receive Maximum and queue bound
    settings = ingest_settings(
        tmp_path, proxied, mqtt_url, ingest_max_pending=window, ingest_batch_size=100
    )
    direct = build_runtime(make_settings(tmp_path / "direct", pg_url), migrate=False)
    publisher = Publisher(mqtt_url)
    try:
        with running_service(settings) as (_, service):
            pump = make_device(direct)
            topic = topic_of(settings, pump)
            publisher.publish_stream(topic, 0, 500)  # 500 before the outage
            wait_until(lambda: len(telemetry(direct, pump)) == 500, 30, "500 readings stored")
            wait_until(lambda: service.stats.acknowledged == 500, 10, "500 messages acked")

            proxy.cut()
            cut_at = time.monotonic()
            publisher.publish_stream(topic, 500, 1000)  # 1000 during it
            publisher.wait_acked(1500)
            wait_until(lambda: service.stats.received >= 500 + window, 10, "a full window")
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
            during = len(telemetry(direct, pump))
            held = service.stats.received - service.stats.acknowledged
            acknowledged = service.stats.acknowledged
            proxy.restore()

            wait_until(lambda: len(telemetry(direct, pump)) == 1500, 30, "1500 readings stored")
            stored = telemetry(direct, pump)
    finally:
        publisher.close()
        proxy.close()
        direct.close()

    assert (during, acknowledged) == (500, 500)  # nothing written or acked while it was down
    # Back-pressure: the consumer held a window of messages (the queue's bound, plus at most
    # the batch in hand); the broker kept the other ~800 until the database was back.
    assert window <= held <= window + 100 and service.peak_pending <= window
    assert stored == stream(1500)
