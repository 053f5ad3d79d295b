"""`forewarn simulate`: pacing math on a fake clock, then real runs over Mosquitto and HTTP."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
from click.testing import Result
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from typer.testing import CliRunner

from forewarn.cli.main import app
from forewarn.db.models import Telemetry
from forewarn.errors import InvalidInputError
from forewarn.runtime import Runtime
from forewarn.sim import TEMPERATURE, profile_by_name
from forewarn.sim.fleet import FaultLog, SimPlan, messages
from forewarn.sim.publisher import Clock, publish
from forewarn.sim.transports import MqttTransport
from tests.factories import Headers
from tests.support import served_app, service_url

START_MS = 1_730_000_000_000
TOPIC = "forewarn/v1/devices/+/telemetry"


# --- pacing and message shapes, on a fake clock ---------------------------------------------


@dataclass
class FakeClock:
    """Time that only moves when the code under test sleeps (or a send takes time)."""

    t: float = 100.0
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


@dataclass
class Sink:
    """A transport that keeps what it is given, with the fake time of each send."""

    clock: FakeClock
    send_cost_s: float = 0.0
    sent: list[tuple[float, uuid.UUID, bytes]] = field(default_factory=list)
    acked: int = 0
    errors: int = 0

    def send(self, device_id: uuid.UUID, payload: bytes) -> None:
        self.sent.append((self.clock.t, device_id, payload))
        self.acked += 1
        self.clock.t += self.send_cost_s

    def idle(self, seconds: float) -> None:
        self.clock.sleep(seconds)

    def close(self, timeout_s: float) -> None:
        del timeout_s


def fake(clock: FakeClock) -> Clock:
    """The publisher's clock driven by a FakeClock."""
    return Clock(clock.now, clock.sleep)


def test_plan_spreads_devices_evenly_over_the_interval() -> None:
    plan = SimPlan(devices=4, rate=1200)  # 3 metrics: each device every 10 ms
    assert plan.interval_s == pytest.approx(0.01)
    assert [plan.due_s(j) for j in (0, 1, 4, 9)] == pytest.approx([0, 0.0025, 0.01, 0.0225])


@pytest.mark.parametrize("per_message", [1, 3, 6])
def test_messages_carry_their_due_time_as_timestamp(per_message: int) -> None:
    plan = SimPlan(devices=3, rate=900, readings_per_message=per_message)
    batch = list(islice(messages(plan, START_MS, FaultLog()), 600))
    last_ts: dict[tuple[int, str], int] = {}
    for message in batch:
        # The timestamp is the due instant in ms (floored; float rounding may land on it).
        offset = message.due_s * 1000
        assert message.ts[-1] - START_MS in (math.floor(offset), round(offset))
        body = json.loads(message.payload)
        readings = body if isinstance(body, list) else [body]
        assert [r["ts"] for r in readings] == list(message.ts)
        assert sum(len(r["values"]) for r in readings) == message.readings == per_message
        for reading in readings:
            for metric in reading["values"]:
                assert reading["ts"] > last_ts.get((message.device, metric), 0)
                last_ts[message.device, metric] = reading["ts"]
    assert [m.due_s for m in batch] == sorted(m.due_s for m in batch)
    assert len(last_ts) == 9  # 3 devices x 3 metrics


def test_publish_sends_each_message_when_due_and_stops_at_the_duration() -> None:
    clock = FakeClock()
    sink = Sink(clock)
    plan = SimPlan(devices=4, rate=1200)
    ids = [uuid.uuid4() for _ in range(4)]
    stats = publish(plan, ids, sink, duration_s=1.0, start_ms=START_MS, clock=fake(clock))
    assert stats.messages == len(sink.sent) == 400  # samples due in [0, 1 s): 4 devices x 100
    assert stats.readings == 1200 and stats.acked == 400 and stats.errors == 0
    for j, (t, device_id, _payload) in enumerate(sink.sent):
        assert t == pytest.approx(100.0 + j * 0.0025)
        assert device_id == ids[j % 4]


def test_publish_falls_behind_without_sleeping_when_sending_is_slow() -> None:
    clock = FakeClock()
    sink = Sink(clock, send_cost_s=1 / 128)  # 3.2x slower than the schedule needs
    plan = SimPlan(devices=4, rate=1200)
    ids = [uuid.uuid4() for _ in range(4)]
    stats = publish(plan, ids, sink, duration_s=1.0, start_ms=START_MS, clock=fake(clock))
    assert stats.messages == 128  # as many as fit into the second, back to back
    assert clock.sleeps == []


def test_published_faults_are_cut_at_what_was_sent() -> None:
    plan = SimPlan(devices=2, rate=600, faults=True, fault_rate=1.0, fault_kinds=("drift",))
    everything = FaultLog()
    list(islice(messages(plan, START_MS, everything), 960))  # the whole first chunk
    for device in (0, 1):
        everything.sent(device, 2**62)
    clock = FakeClock()
    ids = [uuid.uuid4(), uuid.uuid4()]
    stats = publish(plan, ids, Sink(clock), count=300, start_ms=START_MS, clock=fake(clock))
    last = {d: START_MS + math.floor(plan.due_s(298 + d) * 1000) for d in (0, 1)}  # sample 149
    expected = [r for r in everything.published() if r.fault.start_ms <= last[r.device]]
    assert len(everything.published()) == 6 and expected
    assert [(r.device, r.fault.metric, r.fault.start_ms) for r in stats.faults] == [
        (r.device, r.fault.metric, r.fault.start_ms) for r in expected
    ]
    for record, full in zip(stats.faults, expected, strict=True):
        assert record.fault.end_ms == min(full.fault.end_ms, last[record.device])


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"devices": 0, "rate": 10}, "devices"),
        ({"devices": 1, "rate": 3001}, "rate"),
        ({"devices": 2, "rate": 10, "readings_per_message": 4}, "readings_per_message"),
        ({"devices": 2, "rate": 10, "fault_kinds": ("seasonal_spike",)}, "fault_kinds"),
        ({"devices": 2, "rate": 10, "metrics": (TEMPERATURE, TEMPERATURE)}, "metrics"),
        ({"devices": 2, "rate": 10, "fault_rate": 1.5}, "fault_rate"),
    ],
)
def test_bad_plans_name_the_field(fields: dict[str, Any], loc: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        SimPlan(**fields)
    assert caught.value.loc == (loc,)


# --- real runs: the CLI publishing to Mosquitto, and to the API over HTTP -------------------


class Subscriber:
    """A paho client collecting every telemetry message from the broker."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.received: list[tuple[str, bytes]] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe(TOPIC, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
        self.client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK from the broker"

    def of(self, ids: list[str], expected: int) -> list[tuple[str, Any]]:
        """Messages of these devices (other tests share the broker), waiting for `expected`."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            mine = [(t, json.loads(p)) for t, p in self.received if t.split("/")[3] in ids]
            if len(mine) >= expected:
                return mine
            time.sleep(0.05)
        return mine

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber(monkeypatch: pytest.MonkeyPatch) -> Iterator[Subscriber]:
    """Subscribed to every device's telemetry on the test broker, which the CLI will use."""
    url = service_url("FOREWARN_TEST_MQTT_URL")
    monkeypatch.setenv("FOREWARN_MQTT_URL", url)
    sub = Subscriber(url)
    yield sub
    sub.close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI registers its devices in an SQLite file here, and reads nothing else."""
    for name in ("FOREWARN_DATABASE_URL", "FOREWARN_SECRET_KEY", "FOREWARN_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def simulate(*args: str) -> tuple[Result, list[str]]:
    """Run `forewarn simulate`; returns the result and the device ids it printed."""
    result = CliRunner().invoke(app, ["simulate", *args])
    return result, [line[:36] for line in result.output.splitlines() if _is_uuid(line[:36])]


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def series(messages: list[tuple[str, Any]]) -> dict[tuple[str, str], dict[int, float]]:
    """{(device id, metric): {ts: value}} from received payloads."""
    out: dict[tuple[str, str], dict[int, float]] = {}
    for topic, body in messages:
        for reading in body if isinstance(body, list) else [body]:
            for metric, value in reading["values"].items():
                out.setdefault((topic.split("/")[3], metric), {})[reading["ts"]] = value
    return out


def check_fault(kind: str, window: list[float], before: float | None, metric: str) -> None:
    """What each kind must look like inside its reported window."""
    profile = profile_by_name(metric)
    if kind == "spike":
        assert all(v > profile.high or v < profile.low for v in window)
    elif kind == "stuck":
        assert set(window) == {before}
    elif kind == "dropout":
        assert window == []
    elif kind == "drift":
        assert window[-1] > profile.high


@pytest.mark.slow
def test_faults_appear_exactly_where_reported(data_dir: Path, subscriber: Subscriber) -> None:
    out = data_dir.parent / "faults.csv"
    result, ids = simulate(
        "--devices", "2", "--rate", "3000", "--count", "960", "--faults", "--fault-rate", "1",
        "--fault-kinds", "spike,stuck,dropout,drift", "--seed", "4", "--faults-out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(ids) == 2 and "sent 960 messages" in " ".join(result.output.split())
    received = subscriber.of(ids, 960)
    assert len(received) == 960
    assert all(t == f"forewarn/v1/devices/{t.split('/')[3]}/telemetry" for t, _ in received)
    assert all(set(body) == {"ts", "values"} for _, body in received)
    got = series(received)
    faults = list(csv.DictReader(out.open(encoding="utf-8")))
    assert sorted((f["device_id"], f["metric"]) for f in faults) == sorted(
        (d, m) for d in ids for m in ("temperature", "humidity", "pressure")
    )  # one fault per series: the whole first chunk (480 samples) was sent
    assert {f["kind"] for f in faults} == {"spike", "stuck", "dropout", "drift"}  # seed 4
    inside: dict[tuple[str, str], set[int]] = {}
    for fault in faults:
        key, start, end = (
            (fault["device_id"], fault["metric"]),
            int(fault["start_ms"]),
            int(fault["end_ms"]),
        )
        points = got[key]
        window = [v for ts, v in sorted(points.items()) if start <= ts <= end]
        before = [v for ts, v in sorted(points.items()) if ts < start]
        check_fault(fault["kind"], window, before[-1] if before else None, fault["metric"])
        inside[key] = {ts for ts in points if start <= ts <= end}
    for (device, metric), points in got.items():
        profile = profile_by_name(metric)
        clean = [v for ts, v in points.items() if ts not in inside[device, metric]]
        assert all(profile.low <= v <= profile.high for v in clean), (device, metric)


@pytest.mark.slow
@pytest.mark.parametrize(("per_message", "qos"), [(1, 0), (6, 1)])
def test_message_shapes_and_devices_found_again(
    data_dir: Path, subscriber: Subscriber, per_message: int, qos: int
) -> None:
    args = ["--devices", "3", "--rate", "600", "--count", "30", "--qos", str(qos),
            "--readings-per-message", str(per_message), "--name-prefix", "Shape"]  # fmt: skip
    first, ids = simulate(*args)
    assert first.exit_code == 0, first.output
    received = subscriber.of(ids, 30)
    assert len(received) == 30 and len(ids) == 3
    for _, body in received:
        readings = body if isinstance(body, list) else [body]
        assert len(readings) == per_message // 3 or per_message == 1
        assert sum(len(r["values"]) for r in readings) == per_message
    again, same = simulate(*args)
    assert again.exit_code == 0 and same == ids  # found by name, not registered twice


def test_bad_options_name_the_option(data_dir: Path) -> None:
    result, _ = simulate("--devices", "2", "--rate", "10", "--readings-per-message", "4")
    assert result.exit_code == 2
    assert "--readings-per-message" in result.output and "multiple of 3" in result.output
    result, _ = simulate("--rate", "10", "--metrics", "temperature,noise", "--count", "1")
    assert result.exit_code == 2 and "--metrics" in result.output


@pytest.fixture
def live_api(runtime: Runtime) -> Iterator[str]:
    """The app on the test's database, served by uvicorn on a free port in a thread."""
    with served_app(runtime) as port:
        yield f"http://127.0.0.1:{port}"


def stored(runtime: Runtime, device_id: str) -> int:
    """Telemetry rows of a device."""
    with runtime.sessions() as session:
        query = select(func.count()).where(Telemetry.device_id == uuid.UUID(device_id))
        return int(session.scalar(query) or 0)


@pytest.mark.slow
def test_http_transport_registers_devices_and_writes_readings(
    runtime: Runtime, admin: Headers, live_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    token = admin["Authorization"].removeprefix("Bearer ")
    args = ["--transport", "http", "--api-url", live_api, "--token", token, "--devices", "2",
            "--rate", "300", "--count", "20", "--readings-per-message", "6"]  # fmt: skip
    result, ids = simulate(*args)
    assert result.exit_code == 0, result.output
    assert len(ids) == 2 and [stored(runtime, i) for i in ids] == [60, 60]  # 10 x 2 x 3 each
    again, same = simulate(*args)
    assert again.exit_code == 0 and same == ids
    assert [stored(runtime, i) for i in ids] == [120, 120]


@pytest.mark.slow
def test_http_transport_with_a_bad_token_fails_clearly(
    runtime: Runtime, live_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result, ids = simulate("--transport", "http", "--api-url", live_api, "--token", "nope",
                           "--devices", "1", "--rate", "10", "--count", "1")  # fmt: skip
    assert result.exit_code == 1 and ids == []
    assert "API answered 401" in " ".join(result.output.split())


def _mosquitto(port: int) -> subprocess.Popen[bytes]:
    """A private broker (the shared one must not be restarted by a test)."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        service_url("FOREWARN_TEST_MOSQUITTO_BINARY")  # skips, or fails under REQUIRE_SERVICES
    process = subprocess.Popen([binary, "-p", str(port)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return process
        time.sleep(0.05)
    raise AssertionError("mosquitto did not start")


@pytest.mark.slow
def test_mqtt_transport_survives_a_broker_restart(caplog: pytest.LogCaptureFixture) -> None:
    service_url("FOREWARN_TEST_MQTT_URL")  # an integration test: needs the broker installed
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    broker = _mosquitto(port)
    transport = MqttTransport(f"mqtt://127.0.0.1:{port}", qos=1)

    def restart() -> None:
        nonlocal broker
        time.sleep(0.8)
        broker.kill()
        broker.wait()
        time.sleep(0.7)  # publishing goes on meanwhile: paho queues, we reconnect
        broker = _mosquitto(port)

    restarter = threading.Thread(target=restart)
    restarter.start()
    try:
        plan = SimPlan(devices=2, rate=600)  # 200 messages/s
        stats = publish(plan, [uuid.uuid4(), uuid.uuid4()], transport, duration_s=3.0)
    finally:
        restarter.join()
        broker.kill()
        broker.wait()
    assert stats.messages == 600
    assert "lost the MQTT broker; reconnecting" in caplog.text
    assert stats.errors == 0 and stats.acked == stats.messages  # resent after reconnecting
