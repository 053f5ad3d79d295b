"""Live anomaly stream benchmark: what publishing costs the scoring thread, and how long an
anomaly takes to reach a WebSocket subscriber (same process, or through Redis) or an MQTT one.

Run: .venv/bin/python benchmarks/bench_stream.py [--redis-url redis://127.0.0.1:6379/0]
         [--mqtt-url mqtt://127.0.0.1:1883] [--events 2000]

Everything runs in this process on real services; the figures include thread hand-offs and
loopback network hops, not WebSocket framing. Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from paho.mqtt.client import Client, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from forewarn.stream.bus import AnomalyBus, dropped_counter
from forewarn.stream.events import AnomalyEvent, StreamFilter
from forewarn.stream.mqtt_publisher import MqttPublisher, parse_broker_url
from forewarn.stream.redis_fanout import RedisFanout

TOPIC = "forewarn/bench/{device_id}/anomalies"


def row(device: uuid.UUID) -> dict[str, Any]:
    """An anomaly row as scoring inserts it; `value` carries the send time."""
    return {
        "id": uuid.uuid4(), "model_id": uuid.uuid4(), "device_id": device,
        "metric_name": "temperature", "value": time.perf_counter(), "anomaly_score": 0.8,
        "threshold": 0.6, "ts": 1_730_000_000_000, "detected_at": datetime.now(UTC),
        "explanation": {"summary": "hot", "metrics": ["temperature"]},
    }  # fmt: skip


def per_call_us(bus: AnomalyBus, events: int) -> float:
    """Mean microseconds the scoring thread spends in publish_rows for one anomaly."""
    device = uuid.uuid4()
    rows = [row(device) for _ in range(events)]
    started = time.perf_counter()
    for item in rows:
        bus.publish_rows([item])
    return (time.perf_counter() - started) / events * 1e6


class LoopSubscribers:
    """`count` subscribers on an event loop in its own thread; the first records latencies."""

    def __init__(self, bus: AnomalyBus, count: int) -> None:
        self.latencies: queue.Queue[float] = queue.Queue()
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(bus, count, ready), daemon=True).start()
        ready.wait(5)

    def _run(self, bus: AnomalyBus, count: int, ready: threading.Event) -> None:
        async def main() -> None:
            subs = [bus.subscribe(StreamFilter()) for _ in range(count)]
            ready.set()
            while True:
                text = await subs[0].get()
                sent = AnomalyEvent.from_dict(json.loads(text)).value
                self.latencies.put(time.perf_counter() - sent)
                for sub in subs[1:]:
                    while not sub.queue.empty():
                        sub.queue.get_nowait()

        self._loop.run_until_complete(main())


def latencies_ms(send: Callable[[], None], inbox: queue.Queue[float], events: int) -> list[float]:
    """Send `events` one at a time, each after the previous arrived; milliseconds each."""
    found = []
    for _ in range(events):
        send()
        found.append(inbox.get(timeout=10) * 1000)
    return found


def report(name: str, values: list[float], unit: str) -> None:
    """One line: median, p99 and max."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    median = statistics.median(ordered)
    print(f"{name:<48} p50 {median:8.3f} {unit}  p99 {p99:8.3f} {unit}  max {ordered[-1]:8.3f}")


def bench_local(events: int) -> None:
    """Publish cost and same-process delivery latency."""
    bus = AnomalyBus(queue_size=events + 10, dropped=dropped_counter(CollectorRegistry()))
    print(f"publish_rows, no subscriber, no sink: {per_call_us(bus, events):8.2f} µs/anomaly")
    subscribers = LoopSubscribers(bus, 100)
    # Wall time of the publishing thread, which shares the GIL with the loop thread fanning out.
    print(f"publish_rows, 100 WebSocket subscribers:  {per_call_us(bus, events):8.2f} µs/anomaly")
    for _ in range(events):  # wait for the subscriber to work through that backlog
        subscribers.latencies.get(timeout=60)
    device = uuid.uuid4()
    report(
        "commit -> subscriber queue (same process, 100 subs)",
        latencies_ms(lambda: bus.publish_rows([row(device)]), subscribers.latencies, events),
        "ms",
    )


def bench_redis(url: str, events: int) -> None:
    """Cost with the Redis sink, and latency from one process's publish to another's client."""
    channel = f"forewarn:bench:{uuid.uuid4().hex}"
    registry = CollectorRegistry()
    one = AnomalyBus(queue_size=events + 10, dropped=dropped_counter(registry))
    two = AnomalyBus(queue_size=events + 10, dropped=dropped_counter(CollectorRegistry()))
    for bus in (one, two):
        bus.add_sink(RedisFanout(url, channel, bus.deliver_local, queue_size=10_000,
                                 dropped=bus.dropped))  # fmt: skip
        bus.start()
    assert one.wait_ready(10) and two.wait_ready(10)
    subscribers = LoopSubscribers(two, 1)
    device = uuid.uuid4()
    report(
        "commit -> other process's subscriber (Redis)",
        latencies_ms(lambda: one.publish_rows([row(device)]), subscribers.latencies, events),
        "ms",
    )
    print(f"publish_rows with the Redis sink: {per_call_us(one, events):8.2f} µs/anomaly")
    one.stop()
    two.stop()


def bench_mqtt(url: str, events: int) -> None:
    """Latency from publish to a paho subscriber of the device's topic (QoS 1)."""
    registry = CollectorRegistry()
    bus = AnomalyBus(queue_size=10, dropped=dropped_counter(registry))
    bus.add_sink(MqttPublisher(url, TOPIC, queue_size=10_000, dropped=bus.dropped))
    bus.start()
    assert bus.wait_ready(10)
    device = uuid.uuid4()
    inbox: queue.Queue[float] = queue.Queue()
    subscribed = threading.Event()

    def on_message(_c: Client, _u: Any, message: MQTTMessage) -> None:
        sent = AnomalyEvent.from_dict(json.loads(message.payload)).value
        inbox.put(time.perf_counter() - sent)

    address = parse_broker_url(url)
    watcher = Client(CallbackAPIVersion.VERSION2)
    watcher.on_message = on_message
    watcher.on_subscribe = lambda *_: subscribed.set()
    watcher.connect(address.host, address.port)
    watcher.subscribe(TOPIC.format(device_id=device), qos=1)
    watcher.loop_start()
    subscribed.wait(10)
    report(
        "commit -> MQTT subscriber (QoS 1)",
        latencies_ms(lambda: bus.publish_rows([row(device)]), inbox, events),
        "ms",
    )
    watcher.disconnect()
    watcher.loop_stop()
    bus.stop()


def main() -> None:
    """Parse arguments and run each part."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    bench_local(args.events)
    bench_redis(args.redis_url, args.events)
    bench_mqtt(args.mqtt_url, args.events)


if __name__ == "__main__":
    main()
