"""MQTT ingest against the machine's Mosquitto and PostgreSQL: shapes, refusals, sharing."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from pathlib import Path

import pytest

from forewarn.runtime import Runtime
from tests.factories import T0, make_device
from tests.ingest.helpers import (
    Publisher,
    dead_letters,
    ingest_settings,
    running_service,
    telemetry,
    topic_of,
)
from tests.support import wait_until


def metric(runtime: Runtime, name: str, **labels: str) -> float:
    """The current value of a Prometheus sample of the runtime."""
    return runtime.metrics.registry.get_sample_value(name, labels) or 0.0


def test_every_shape_is_stored_and_every_bad_message_is_a_dead_letter(
    tmp_path: Path, pg_url: str, mqtt_url: str
) -> None:
    settings = ingest_settings(tmp_path, pg_url, mqtt_url, ingest_max_payload_bytes=1024)
    publisher = Publisher(mqtt_url)
    with running_service(settings) as (runtime, service):
        pump = make_device(runtime)
        topic = topic_of(settings, pump)
        bad = [
            (topic, b'{"temperature": NaN}', "bad_value"),
            (topic, b'{"ts": 1730000000000, "values": {"t": -Infinity}}', "bad_value"),
            (topic, b'{"temperature": "hot"}', "bad_value"),
            (topic, b'{"temperature": 25.1', "bad_json"),
            (topic, b"[" + b"1," * 600 + b"1]", "oversized"),
            (topic, b"[1, 2]", "bad_shape"),
            (topic, b'{"bad name": 1}', "bad_metric"),
            (topic, b'{"ts": 1730000000, "values": {"t": 1}}', "bad_timestamp"),
            (topic_of(settings, "pump-7"), b'{"t": 1}', "bad_topic"),
            (topic_of(settings, uuid.uuid4()), b'{"t": 1}', "unknown_device"),
        ]
        good = [
            {"ts": T0, "values": {"temperature": 25.5, "rpm": 1450}},
            [{"ts": T0 + 1, "values": {"temperature": 25.6}}, {"ts": T0 + 2, "values": {"rpm": 7}}],
        ]
        sent_ms = int(time.time() * 1000)
        publisher.publish(topic, b'{"temperature": 25.1}')  # stamped on arrival
        for body in good:
            publisher.publish(topic, json.dumps(body).encode())
        for bad_topic, payload, _ in bad:
            publisher.publish(bad_topic, payload)
        publisher.publish(topic, json.dumps({"ts": T0 + 3, "values": {"after": 1.0}}).encode())
        sent = 1 + len(good) + len(bad) + 1  # 14 messages
        publisher.wait_acked(sent)
        wait_until(lambda: service.stats.acknowledged == sent, 20, f"{sent} messages committed")
        done_ms = int(time.time() * 1000)

    publisher.close()
    stored = telemetry(runtime, pump)
    assert stored[:5] == [
        ("rpm", T0, 1450.0),
        ("temperature", T0, 25.5),
        ("temperature", T0 + 1, 25.6),
        ("rpm", T0 + 2, 7.0),
        ("after", T0 + 3, 1.0),  # the consumer carried on after every kind of bad input
    ]
    ((name, server_ts, value),) = stored[5:]
    assert (name, value) == ("temperature", 25.1) and sent_ms <= server_ts <= done_ms
    letters = dead_letters(runtime)
    assert sorted(x.kind for x in letters) == sorted(kind for _, _, kind in bad)
    assert {x.payload_excerpt for x in letters} >= {'{"temperature": NaN}', '{"bad name": 1}'}
    assert metric(runtime, "forewarn_dead_letters_total", kind="bad_value") == 3
    assert metric(runtime, "forewarn_dead_letters_total", kind="unknown_device") == 1
    assert metric(runtime, "forewarn_readings_ingested_total", transport="mqtt") == 6
    assert service.stats.readings == 6 and service.stats.dead_letters == len(bad)


@pytest.mark.slow
def test_two_consumers_in_a_shared_group_write_each_message_once(
    tmp_path: Path, pg_url: str, mqtt_url: str
) -> None:
    group = f"forewarn-test-{secrets.token_hex(3)}"
    first = ingest_settings(tmp_path / "a", pg_url, mqtt_url, mqtt_shared_group=group)
    second = ingest_settings(
        tmp_path / "b",
        pg_url,
        mqtt_url,
        mqtt_shared_group=group,
        mqtt_topic_root=first.mqtt_topic_root,
    )
    assert first.mqtt_client_id != second.mqtt_client_id
    publisher = Publisher(mqtt_url)
    per_device, devices = 150, 4
    sent = per_device * devices  # 600 messages, one reading each
    with running_service(first) as (runtime, a), running_service(second) as (_, b):
        pumps = [make_device(runtime, f"Pump {n}") for n in range(devices)]
        for pump in pumps:
            publisher.publish_stream(topic_of(first, pump), 0, per_device)
        publisher.wait_acked(sent)
        both = lambda: a.stats.acknowledged + b.stats.acknowledged  # noqa: E731
        wait_until(lambda: both() >= sent, 30, f"{sent} messages committed")
    publisher.close()

    assert a.stats.readings > 0 and b.stats.readings > 0  # both took a share
    assert a.stats.readings + b.stats.readings == sent  # and no message went to both
    for pump in pumps:
        assert telemetry(runtime, pump) == [("seq", T0 + i, float(i)) for i in range(per_device)]
