"""End-to-end MQTT benchmark: simulator -> Mosquitto -> `forewarn ingest` -> PostgreSQL -> scored
-> anomaly published back on MQTT.

Run: .venv/bin/python benchmarks/bench_mqtt.py [--quick] [--duration 600]
     [--database-url postgresql://postgres@127.0.0.1:5432/test] [--mqtt-url mqtt://HOST:PORT]

Setup: a throw-away PostgreSQL database; a private Mosquitto on a free loopback port (unless
--mqtt-url); N simulated devices with 3 metrics, history written and one model trained per
series (the default detector), so every live reading is scored. Then, with the simulator
publishing QoS 1 from this process:

1. latency and memory: one `forewarn ingest`, the simulator at --latency-rate with faults on.
   Publish -> commit: the wall time just before publishing vs the first poll (every 20 ms) of
   the probe series whose snapshot holds the row: an upper bound, at most one poll too late.
   Publish -> anomaly: the same publish time vs arrival of the anomaly for that reading
   (matched on device and ts) on forewarn/v1/devices/+/anomalies. Resident memory of the
   ingest process is sampled every second.
2. throughput: the same process, the simulator offering --max-rate with --max-rpm readings per
   message; committed rows per second over the last 70 % of the run (count(*) twice). CPU per
   process over that window says where the time goes.
3. shared subscription: two fresh `forewarn ingest` processes in one $share group; every
   published reading must be in the table exactly once (n_tup_upd stays 0: no key written twice).

Exits 0 whatever the figures: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import psycopg
from _mqtt_stack import CpuMeter, IngestProcess, private_broker, start_ingest, summary_count
from _mqtt_watch import (
    POLL_S,
    AnomalyWatch,
    CommitPoller,
    RssSampler,
    SentLog,
    percentiles,
    rss_trend,
)
from _server import Row, _throwaway_database, is_postgres_url, print_report, verdict

from forewarn.cli.simulate import device_spec
from forewarn.lifecycle.training import TrainSpec, train_model
from forewarn.runtime import build_runtime
from forewarn.services.devices import create_device
from forewarn.settings import Settings
from forewarn.sim.fleet import FaultLog, Message, SimPlan, messages
from forewarn.sim.publisher import PublishStats, publish
from forewarn.sim.transports import MqttTransport
from forewarn.telemetry.store import Row as Reading
from forewarn.telemetry.store import write_rows

TARGET_RATE = 20_000
TARGET_P99_MS = 250.0
METRICS = ("temperature", "humidity", "pressure")


@dataclass(frozen=True)
class Options:
    """Sizes and rates of one benchmark run."""

    devices: int = 30  # 90 series: the detector's cost grows with series x batches
    history: int = 3_000  # samples per device before going live (the likelihood wants 2,000)
    warmup_s: float = 15.0
    duration_s: float = 120.0  # phase 1, measured part
    latency_rate: float = 10_000.0
    latency_rpm: int = 3
    max_rate: float = 40_000.0
    max_rpm: int = 30
    throughput_s: float = 60.0
    shared_rate: float = 10_000.0
    shared_s: float = 20.0
    probes: int = 10
    fault_rate: float = 0.25
    models: bool = True  # off: nothing is scored (to see what scoring costs)


QUICK = Options(history=2_000, warmup_s=5, duration_s=15, throughput_s=15, shared_s=8)


@dataclass
class Bench:
    """What the phases share: where things are, and the running totals."""

    opts: Options
    settings: Settings
    work: Path
    db_url: str
    mqtt_url: str
    env: dict[str, str]
    ids: list[uuid.UUID]
    broker_pid: int | None
    expected_rows: int = 0
    ingest_pids: list[int] = field(default_factory=list)

    def meter(self) -> CpuMeter:
        """A CPU meter over the processes doing the work right now."""
        groups = {"ingest": self.ingest_pids, "postgres": self.pg_pids(),
                  "bench (simulator, probes)": [os.getpid()]}  # fmt: skip
        if self.broker_pid is not None:
            groups["mosquitto"] = [self.broker_pid]
        return CpuMeter(groups)

    def plan(self, rate: float, rpm: int, seed: int) -> SimPlan:
        """The fleet at `rate` readings/s, `rpm` readings per message, faults on."""
        return SimPlan(devices=len(self.ids), rate=rate, readings_per_message=rpm, faults=True,
                       fault_rate=self.opts.fault_rate, seed=seed)  # fmt: skip

    def count(self, since_ms: int | None = None, table: str = "telemetry") -> int:
        """Rows in a table (telemetry with ts >= since_ms), straight from PostgreSQL."""
        query = f"SELECT count(*) FROM {table}"  # our own table names only
        with psycopg.connect(self.db_url, application_name="bench") as conn:
            if since_ms is None:
                found = conn.execute(query.encode()).fetchone()
            else:
                found = conn.execute(f"{query} WHERE ts >= %s".encode(), (since_ms,)).fetchone()
        return int(found[0]) if found else 0

    def wait_rows(self, expected: int, since_ms: int | None = None) -> int:
        """Poll until the table holds `expected` rows, or has not grown for 30 s."""
        last, still_since = -1, time.monotonic()
        while time.monotonic() - still_since < 30:
            now = self.count(since_ms)
            if now >= expected:
                return now
            if now != last:
                last, still_since = now, time.monotonic()
            time.sleep(0.5)
        return last

    def table_stats(self) -> tuple[int, int]:
        """n_tup_ins and n_tup_upd of telemetry."""
        with psycopg.connect(self.db_url, application_name="bench") as conn:
            query = (
                "SELECT n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE relname = 'telemetry'"
            )
            found = conn.execute(query).fetchone()
        return (int(found[0]), int(found[1])) if found else (0, 0)

    def pg_pids(self) -> list[int]:
        """PostgreSQL processes working for the ingest: its backends and the WAL writer."""
        query = ("SELECT pid FROM pg_stat_activity WHERE (datname = current_database() "
                 "AND application_name <> 'bench') OR backend_type IN ('walwriter', "
                 "'checkpointer', 'background writer')")  # fmt: skip
        with psycopg.connect(self.db_url, application_name="bench") as conn:
            return [int(r[0]) for r in conn.execute(query).fetchall()]


def prepare(settings: Settings, opts: Options, prefix: str) -> list[uuid.UUID]:
    """Register the devices, write their history and train one model per series."""
    plan = SimPlan(devices=opts.devices, rate=opts.latency_rate, seed=1)
    runtime = build_runtime(settings)
    try:
        with runtime.sessions() as session:
            ids = [create_device(session, device_spec(plan, i, prefix)).id
                   for i in range(opts.devices)]  # fmt: skip
            span_ms = int(opts.history * plan.interval_s * 1000)
            start = int(time.time() * 1000) - span_ms - 1000
            history = islice(messages(plan, start, FaultLog()), opts.devices * opts.history)
            rows = [Reading(ids[m.device], metric, ts, value)
                    for m in history for ts in m.ts
                    for metric, value in _values(m.payload).items()]  # fmt: skip
            write_rows(session.connection(), rows)
            session.commit()
            for device_id in ids if opts.models else []:
                for metric in METRICS:
                    spec = TrainSpec(device_id=device_id, metric_name=metric, window_days=1)
                    train_model(session, runtime.registry, runtime.artifact_key, spec)
    finally:
        runtime.close()
    return ids


def _values(payload: bytes) -> dict[str, float]:
    body: dict[str, dict[str, float]] = json.loads(payload)
    return body["values"]


def _mix(rpm: int) -> str:
    if rpm <= 3:
        return f"{rpm} reading(s)/msg"
    return f"{rpm} readings/msg ({rpm // 3} samples x 3 metrics)"


class Publisher(threading.Thread):
    """The simulator publishing in the background; `live` is its latest progress."""

    def __init__(self, bench: Bench, plan: SimPlan, seconds: float,
                 on_sent: Callable[[Message, float], None] | None = None) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self._args = (bench, plan, seconds, on_sent)
        self.live = PublishStats()
        self.result = PublishStats()
        self.started_at = 0.0

    def run(self) -> None:
        """Publish until the duration is over, then flush."""
        bench, plan, seconds, on_sent = self._args
        transport = MqttTransport(bench.mqtt_url, qos=1)
        self.started_at = time.monotonic()
        self.result = publish(plan, bench.ids, transport, duration_s=seconds,
                              on_progress=self._progress, on_sent=on_sent)  # fmt: skip

    def _progress(self, stats: PublishStats) -> None:
        self.live = replace(stats, faults=[])

    def at(self, offset_s: float) -> None:
        """Sleep until `offset_s` after publishing started."""
        while not self.started_at:
            time.sleep(0.01)
        time.sleep(max(0.0, self.started_at + offset_s - time.monotonic()))


def latency_phase(bench: Bench, ingest: IngestProcess) -> list[Row]:
    """Phase 1: paced publishing with faults; commit and anomaly latency, ingest memory."""
    opts = bench.opts
    index = {str(device_id): i for i, device_id in enumerate(bench.ids)}
    sent = SentLog()
    poller = CommitPoller(bench.db_url, bench.ids[: opts.probes], index, sent,
                          int(time.time() * 1000))  # fmt: skip
    anomalies = AnomalyWatch(bench.mqtt_url, index, sent)
    rss = RssSampler(ingest.pid)
    seconds = opts.warmup_s + opts.duration_s
    publisher = Publisher(bench, bench.plan(opts.latency_rate, opts.latency_rpm, 2), seconds,
                          sent.on_sent)  # fmt: skip
    for thread in (poller, rss, publisher):
        thread.start()
    publisher.at(opts.warmup_s)
    sent.measure_from = time.time()
    cpu = bench.meter()
    cpu.start()
    publisher.at(seconds - 0.5)
    cpu.stop()
    publisher.join()
    stats = publisher.result
    bench.expected_rows += stats.readings
    stored = bench.wait_rows(bench.expected_rows)
    time.sleep(2.0)  # the last anomalies
    for observer in (poller, rss):
        observer.stopping.set()
        observer.join()
    anomalies.close()
    return _latency_rows(bench, stats, stored, poller, anomalies, rss) + _cpu_rows(cpu)


def _latency_rows(bench: Bench, stats: PublishStats, stored: int, poller: CommitPoller,
                  anomalies: AnomalyWatch, rss: RssSampler) -> list[Row]:  # fmt: skip
    opts = bench.opts
    commit, found = percentiles(poller.latencies), percentiles(anomalies.latencies)
    cycle = percentiles(poller.cycles_ms)
    first, last, peak, slope = rss_trend(rss.samples, opts.warmup_s)
    target = f"p99 <= {TARGET_P99_MS:.0f} ms"
    return [
        (f"1. {opts.latency_rate:,.0f} readings/s offered, {_mix(opts.latency_rpm)}, "
         f"{opts.duration_s:.0f} s after {opts.warmup_s:.0f} s warm-up",
         f"sent {stats.readings_per_s:,.0f}/s, {stats.errors} errors", "", ""),
        ("  publish -> row committed p50 / p99 / max",
         f"{commit[0]:.0f} / {commit[1]:.0f} / {commit[2]:.0f} ms", target,
         verdict(commit[1] <= TARGET_P99_MS)),
        (f"    readings timed ({opts.probes} probe series); poll cycle p50 / p99",
         f"{len(poller.latencies):,}; {cycle[0]:.0f} / {cycle[1]:.0f} ms", "", ""),
        ("  publish -> anomaly received p50 / p99 / max",
         f"{found[0]:.0f} / {found[1]:.0f} / {found[2]:.0f} ms", target,
         _anomaly_verdict(opts, found[1], anomalies.latencies)),
        ("    anomalies received / matched to a timed reading",
         f"{anomalies.received:,} / {len(anomalies.latencies):,}", "", ""),
        ("  ingest RSS after warm-up / end / peak",
         f"{first:.0f} / {last:.0f} / {peak:.0f} MiB", "flat", verdict(last <= first * 1.1 + 5)),
        ("    RSS slope over the second half", f"{slope:+.2f} MiB/min", "~0", ""),
        ("  rows in telemetry = history + published", f"{stored:,} / {bench.expected_rows:,}",
         "equal", verdict(stored == bench.expected_rows)),
        ("  anomalies stored / dead letters so far",
         f"{bench.count(table='anomaly_detections'):,} / {bench.count(table='dead_letters'):,}",
         "", ""),
    ]  # fmt: skip


def _anomaly_verdict(opts: Options, p99: float, latencies: list[float]) -> str:
    if not opts.models:
        return "n/a: scoring off"
    return verdict(p99 <= TARGET_P99_MS) if latencies else "MISS"


def _cpu_rows(cpu: CpuMeter) -> list[Row]:
    shares = ", ".join(f"{name} {share:.0f}%" for name, share in cpu.shares.items())
    return [("    CPU (% of one core) in the window", shares, "", "")]


def throughput_phase(bench: Bench) -> list[Row]:
    """Phase 2: offer more than the ingest can take; committed rows/s over a steady window."""
    opts = bench.opts
    publisher = Publisher(bench, bench.plan(opts.max_rate, opts.max_rpm, 3), opts.throughput_s)
    publisher.start()
    publisher.at(0.3 * opts.throughput_s)
    cpu = bench.meter()
    cpu.start()
    t_a, sent_a, rows_a = time.monotonic(), publisher.live.readings, bench.count()
    publisher.at(opts.throughput_s - 0.5)
    t_b, sent_b, rows_b = time.monotonic(), publisher.live.readings, bench.count()
    cpu.stop()
    publisher.join()
    stats = publisher.result
    bench.expected_rows += stats.readings
    seconds = t_b - t_a
    committed, offered = (rows_b - rows_a) / seconds, (sent_b - sent_a) / seconds
    backlog = bench.expected_rows - rows_b
    return [
        (f"2. {opts.max_rate:,.0f} readings/s offered, {_mix(opts.max_rpm)}, "
         f"{opts.throughput_s:.0f} s", f"sent {offered:,.0f}/s in the window", "", ""),
        (f"  committed (scored) readings/s over the last {seconds:.0f} s",
         f"{committed:,.0f} readings/s", f">= {TARGET_RATE:,}/s",
         verdict(committed >= TARGET_RATE)),
        ("  backlog at the end (published, not yet committed)", f"{backlog:,} readings",
         "", "saturated" if backlog > committed else "kept up"),
        *_cpu_rows(cpu),
    ]  # fmt: skip


def shared_phase(bench: Bench) -> list[Row]:
    """Phase 3: two processes in one $share group; every reading exactly once.

    A fleet of its own, trained just now: a fresh process rebuilds each stream from every
    reading since its model's training, which after phases 1 and 2 takes minutes.
    """
    opts = bench.opts
    bench.ids = prepare(bench.settings, opts, "Share Sensor")
    processes = [start_ingest(bench.work, bench.env, n, group="bench") for n in ("b1", "b2")]
    for process in processes:
        process.wait_subscribed()
    inserted0, updated0 = bench.table_stats()
    since_ms = int(time.time() * 1000)
    publisher = Publisher(bench, bench.plan(opts.shared_rate, opts.latency_rpm, 4), opts.shared_s)
    publisher.start()
    publisher.join()
    sent = publisher.result.readings
    stored = bench.wait_rows(sent, since_ms)
    logs = [process.stop() for process in processes]
    if stored != sent:  # show why, the temporary directory goes away
        for process, log in zip(processes, logs, strict=True):
            print(f"--- {process.name} log, last lines ---\n" + "\n".join(log.splitlines()[-25:]))
    time.sleep(1.0)  # statistics of the exited backends
    inserted1, updated1 = bench.table_stats()
    shares = [summary_count(log, "readings") for log in logs]
    total = sum(n or 0 for n in shares)
    share_text = " / ".join(
        f"{p.name} {n:,} ({100 * n / max(total, 1):.0f}%)" if n is not None else f"{p.name} n/a"
        for p, n in zip(processes, shares, strict=True)
    )
    return [
        (f"3. two `forewarn ingest`, one $share group, {opts.shared_rate:,.0f} readings/s, "
         f"{opts.shared_s:.0f} s: rows = published", f"{stored:,} / {sent:,}", "equal",
         verdict(stored == sent)),
        ("  readings each process committed", share_text, "both > 0",
         verdict(all(n for n in shares))),
        ("  sum of the shares = rows (nothing written twice)", f"{total:,} / {stored:,}",
         "equal", verdict(total == stored)),
        ("  telemetry n_tup_upd / n_tup_ins in the phase",
         f"{updated1 - updated0:,} / {inserted1 - inserted0:,}", "0 / rows",
         verdict(updated1 == updated0 and inserted1 - inserted0 == stored)),
    ]  # fmt: skip


NOTES = [
    "a reading is one metric value; every reading is scored by its series' model (default "
    "detector), as committed by `forewarn ingest` (ack after commit, QoS 1)",
    "publish time = wall clock just before paho's publish(); commit time = start of the first "
    f"{POLL_S * 1000:.0f} ms poll whose snapshot holds the row (an upper bound); anomaly time = "
    "arrival on forewarn/v1/devices/+/anomalies; everything on this machine's clock",
    "simulator, broker, ingest and PostgreSQL share this machine; CPU shares are per cent of one "
    "core from /proc (machine = all cores, other = processes outside this benchmark)",
]


def _options(args: argparse.Namespace) -> Options:
    opts = QUICK if args.quick else Options()
    names = ("devices", "max_rate", "latency_rate", "max_rpm", "latency_rpm")
    changes = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.duration is not None:
        changes["duration_s"] = args.duration
    if args.no_models:
        changes["models"] = False
    return replace(opts, **changes)


def _ingest_env(work: Path, secret: str, db_url: str, mqtt_url: str,
                args: argparse.Namespace) -> dict[str, str]:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    env.update(FOREWARN_DATA_DIR=str(work / "data"), FOREWARN_SECRET_KEY=secret,
               FOREWARN_DATABASE_URL=db_url, FOREWARN_MQTT_URL=mqtt_url,
               FOREWARN_MQTT_SESSION_EXPIRY_S="0")  # fmt: skip
    if args.batch_size:
        env["FOREWARN_INGEST_BATCH_SIZE"] = str(args.batch_size)
    if args.batch_latency_ms:
        env["FOREWARN_INGEST_BATCH_LATENCY_MS"] = str(args.batch_latency_ms)
    return env


def run(args: argparse.Namespace, work: Path, db_url: str, mqtt_url: str,
        broker_pid: int | None) -> list[Row]:  # fmt: skip
    """Set up, then the three phases."""
    opts = _options(args)
    secret = secrets.token_urlsafe(48)
    settings = Settings(_env_file=None, data_dir=work / "data", database_url=db_url,  # type: ignore[call-arg]
                        secret_key=secret)  # fmt: skip
    started = time.monotonic()
    ids = prepare(settings, opts, "Bench Sensor")
    setup_s = time.monotonic() - started
    env = _ingest_env(work, secret, db_url, mqtt_url, args)
    bench = Bench(opts, settings, work, db_url, mqtt_url, env, ids, broker_pid,
                  expected_rows=opts.devices * opts.history * len(METRICS))  # fmt: skip
    rows: list[Row] = [
        (f"setup: {opts.devices} devices x 3 metrics, {opts.history:,} samples each, "
         f"{opts.devices * 3 if opts.models else 'no'} models trained (scoring "
         f"{'on' if opts.models else 'OFF'})", f"{setup_s:.0f} s", "", ""),
    ]  # fmt: skip
    ingest = start_ingest(work, env, "a")
    bench.ingest_pids = [ingest.pid]
    try:
        ingest.wait_subscribed()
        rows += latency_phase(bench, ingest)
        rows += throughput_phase(bench)
    finally:
        ingest.stop()
    return rows + shared_phase(bench)


def main() -> None:
    """Parse options, provide PostgreSQL and Mosquitto, run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about two minutes in all")
    parser.add_argument("--duration", type=float, help="phase 1 seconds (600 for the memory check)")
    parser.add_argument("--devices", type=int)
    parser.add_argument("--max-rate", type=float, help="readings/s offered in phase 2")
    parser.add_argument("--latency-rate", type=float, help="readings/s in phase 1")
    parser.add_argument("--max-rpm", type=int, help="readings per message in phase 2 (30)")
    parser.add_argument("--latency-rpm", type=int, help="readings per message in phases 1, 3 (3)")
    parser.add_argument("--no-models", action="store_true", help="train nothing: scoring off")
    parser.add_argument("--batch-size", type=int, help="FOREWARN_INGEST_BATCH_SIZE")
    parser.add_argument("--batch-latency-ms", type=int, help="FOREWARN_INGEST_BATCH_LATENCY_MS")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL server to create a throw-away database on")  # fmt: skip
    parser.add_argument("--mqtt-url", help="an existing broker (default: a private Mosquitto)")
    args = parser.parse_args()
    if not is_postgres_url(args.database_url):
        parser.error("--database-url must be a PostgreSQL URL")
    with tempfile.TemporaryDirectory(prefix="forewarn-bench-mqtt-") as folder:
        work = Path(folder)
        broker = (contextlib.nullcontext((args.mqtt_url, None)) if args.mqtt_url
                  else private_broker(work))  # fmt: skip
        with _throwaway_database(args.database_url) as db_url, broker as (mqtt_url, pid):
            assert db_url is not None
            rows = run(args, work, db_url, mqtt_url, pid)
    title = "Forewarn end to end over MQTT: simulator -> Mosquitto -> ingest -> PostgreSQL"
    print_report(title, rows, NOTES)


if __name__ == "__main__":
    main()
