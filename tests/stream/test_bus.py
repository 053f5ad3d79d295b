"""The bus: bounded client queues that tell a slow client what it missed; sinks that drop."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from forewarn.settings import Settings
from forewarn.stream.bus import AnomalyBus, dropped_counter
from forewarn.stream.events import StreamFilter
from forewarn.stream.mqtt_publisher import MqttPublisher, parse_broker_url
from tests.stream.events import event


def _dropped(registry: CollectorRegistry, sink: str) -> float:
    return registry.get_sample_value("forewarn_stream_dropped_total", {"sink": sink}) or 0.0


def test_a_slow_client_loses_the_overflow_and_is_told_how_much() -> None:
    registry = CollectorRegistry()
    bus = AnomalyBus(queue_size=2, dropped=dropped_counter(registry))
    batch = [event(0.5 + i / 100) for i in range(7)]

    async def client() -> list[dict[str, object]]:
        sub = bus.subscribe(StreamFilter())
        received = []
        bus.deliver_local(batch[:5])  # two fit, three are missed
        await asyncio.sleep(0)  # let the loop run the delivery
        received.append(await sub.get())
        bus.deliver_local(batch[5:6])  # one slot free, but the notice needs one too
        await asyncio.sleep(0)
        received.append(await sub.get())
        bus.deliver_local(batch[6:])
        await asyncio.sleep(0)
        received += [await sub.get(), await sub.get()]
        assert sub.queue.empty()
        return [json.loads(text) for text in received]

    messages = asyncio.run(client())
    assert [m.get("id") for m in messages] == [
        str(batch[0].id), str(batch[1].id), None, str(batch[6].id),
    ]  # fmt: skip
    assert messages[2] == {"type": "missed", "count": 4}
    assert _dropped(registry, "ws") == 4


def test_each_client_gets_only_what_its_filter_matches() -> None:
    bus = AnomalyBus(queue_size=10, dropped=dropped_counter(CollectorRegistry()))
    pump = uuid.uuid4()
    mine, other = event(0.9, device=pump), event(0.9)

    async def clients() -> tuple[list[str], list[str]]:
        narrow, wide = bus.subscribe(StreamFilter(device_id=pump)), bus.subscribe(StreamFilter())
        bus.publish([other, mine])
        await asyncio.sleep(0)
        return _drain(narrow.queue), _drain(wide.queue)

    narrow, wide = asyncio.run(clients())
    assert narrow == [mine.text] and wide == [other.text, mine.text]


def test_clients_whose_loop_is_gone_are_unsubscribed() -> None:
    bus = AnomalyBus(queue_size=10, dropped=dropped_counter(CollectorRegistry()))

    async def subscribe() -> None:
        bus.subscribe(StreamFilter())

    asyncio.run(subscribe())  # the loop is closed when run() returns
    assert bus.subscribers == 1
    bus.publish([event()])
    assert bus.subscribers == 0


def test_a_sink_that_cannot_keep_up_drops_whole_batches_without_blocking() -> None:
    registry = CollectorRegistry()
    # Nothing listens on port 9; the publisher is never started, so nothing drains its queue.
    sink = MqttPublisher(
        "mqtt://127.0.0.1:9", "t/{device_id}", queue_size=2, dropped=dropped_counter(registry)
    )
    for size in (1, 2, 3, 4):
        sink.offer([event() for _ in range(size)])
    assert sink.dropped == 7
    assert _dropped(registry, "mqtt") == 7


def test_broker_urls() -> None:
    plain = parse_broker_url("mqtt://broker.local")
    assert (plain.host, plain.port, plain.tls, plain.username) == (
        "broker.local",
        1883,
        False,
        None,
    )
    secure = parse_broker_url("mqtts://svc%40plant:p%3Ass@10.0.0.5:8884")
    assert (secure.port, secure.tls, secure.username, secure.password) == (
        8884, True, "svc@plant", "p:ss",
    )  # fmt: skip


@pytest.mark.parametrize("url", ["http://broker", "mqtt://", "broker:1883"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="FOREWARN_MQTT_URL"):
        parse_broker_url(url)


def _drain(queue: asyncio.Queue[str]) -> list[str]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("anomaly_topic", "forewarn/v1/devices/+/anomalies"),
        ("anomaly_topic", "forewarn/v1/anomalies"),  # no {device_id}
        ("anomaly_topic", "forewarn/{device_id}/{metric}"),
        ("ws_queue_size", 1),  # a gap notice needs a slot of its own
        ("anomaly_channel", "two words"),
    ],
)
def test_stream_settings_are_checked(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, **{field: value})  # type: ignore[arg-type]
    assert info.value.errors()[0]["loc"] == (field,)
