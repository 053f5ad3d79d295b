"""Ack-after-commit throughput of the ingest service alone (no models: transport, batching, COPY).

A private Mosquitto (unlimited queue) on a free port; `--devices` registered devices in a
throw-away database (SQLite by default, PostgreSQL with --database-url); `mosquitto_pub -l`
(C, one process per device) publishes `--messages` QoS 1 messages of `--readings` values each.
Without `--live` the messages are queued in the broker first and then drained (pure consumer
speed); with `--live` the consumer runs while they are published. Prints messages/s and
readings/s from the first message to the last acknowledgement.

Run: .venv/bin/python benchmarks/bench_drain.py [--messages 50000] [--readings 1]
     [--window 10000] [--live] [--database-url postgresql://postgres@127.0.0.1:5432/test]

Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from _mqtt_stack import private_broker
from _server import _throwaway_database

from forewarn.ingest.service import IngestService
from forewarn.runtime import build_runtime
from forewarn.schemas.devices import DeviceCreate
from forewarn.services.devices import create_device
from forewarn.settings import Settings


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--readings", type=int, default=1, help="values per message")
    parser.add_argument("--window", type=int, default=10_000, help="ingest_max_pending")
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--live", action="store_true", help="consume while publishing")
    parser.add_argument(
        "--database-url", help="PostgreSQL server URL (a throw-away database is created on it)"
    )
    return parser.parse_args()


def _publish(
    port: int, topic: str, first: int, count: int, readings: int
) -> subprocess.Popen[bytes]:
    start = int(time.time() * 1000) - 10 * 86_400_000
    lines = (
        json.dumps({"ts": start + i, "values": {f"m{k}": float(i + k) for k in range(readings)}})
        for i in range(first, first + count)
    )
    command = ["mosquitto_pub", "-p", str(port), "-q", "1", "-l", "-t", topic]
    process = subprocess.Popen(command, stdin=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write("\n".join(lines).encode())
    process.stdin.close()
    return process


def main() -> None:
    """Set up, publish, consume, print."""
    args = _arguments()
    with (
        tempfile.TemporaryDirectory() as work,
        _throwaway_database(args.database_url) as url,
        private_broker(Path(work)) as (mqtt_url, _),
    ):
        _measure(args, mqtt_url, url, Path(work))


def _measure(args: argparse.Namespace, mqtt_url: str, url: str | None, work: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=work / "data",
        database_url=url,
        secret_key=secrets.token_urlsafe(40),
        mqtt_url=mqtt_url,
        mqtt_client_id=f"drain-{uuid.uuid4().hex[:6]}",
        ingest_max_pending=args.window,
    )
    runtime = build_runtime(settings)
    with runtime.sessions() as session:
        spec = [DeviceCreate(name=f"Pump {n}", type="pump") for n in range(args.devices)]
        devices = [create_device(session, device).id for device in spec]
    service = IngestService(runtime)
    service.start()
    assert service.consumer.connected.wait(10)
    if not args.live:
        service.stop()  # the broker keeps the session and queues everything for it
    per_device = args.messages // len(devices)
    port = int(mqtt_url.rsplit(":", 1)[1])
    started = time.monotonic()
    publishers = [
        _publish(port, f"forewarn/v1/devices/{d}/telemetry", n * per_device, per_device,
                 args.readings)
        for n, d in enumerate(devices)
    ]  # fmt: skip
    if not args.live:
        for publisher in publishers:
            publisher.wait()
        service = IngestService(runtime)
        started = time.monotonic()
        service.start()
    total = per_device * len(devices)
    while service.stats.acknowledged < total and time.monotonic() - started < 600:
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    service.stop()
    runtime.close()
    mode = "live" if args.live else "drain"
    print(
        f"{mode}: {total:,} messages x {args.readings} readings, window {args.window}: "
        f"{elapsed:.2f} s = {total / elapsed:,.0f} messages/s, "
        f"{total * args.readings / elapsed:,.0f} readings/s "
        f"({service.stats.batches} batches, peak queue {service.peak_pending})"
    )


if __name__ == "__main__":
    main()
