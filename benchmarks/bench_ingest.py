"""End-to-end ingest benchmark: telemetry batches over real HTTP into the database.

Run: .venv/bin/python benchmarks/bench_ingest.py [--database-url postgresql://...] [--quick]

A reading here is one metric value: a 3-metric reading object counts as 3. Bodies are
JSON-encoded before the clock starts (clients normally run on other machines), so the figure
is HTTP + server + database. Exits 0 whatever the figures: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import threading
import time
from dataclasses import dataclass

import httpx
import numpy as np
import psycopg
from _server import (
    API,
    JSON_HEADERS,
    BenchServer,
    Row,
    describe_backend,
    is_postgres_url,
    percentile,
    print_report,
    running_server,
    verdict,
)

TARGET_READINGS_PER_S = 50_000
STEP_MS = 1_000
HISTORY_MS = 30 * 86_400_000  # timestamps start 30 days back and advance STEP_MS per reading


@dataclass(frozen=True)
class Scenario:
    """One ingest run: batch shape and client concurrency."""

    metrics: int
    threads: int
    batches: int  # in total, split evenly over the threads
    readings_per_batch: int  # reading objects; each carries `metrics` values

    @property
    def values_per_batch(self) -> int:
        """Metric values in one batch."""
        return self.readings_per_batch * self.metrics

    @property
    def label(self) -> str:
        """How the table names this run."""
        metrics = "metric" if self.metrics == 1 else "metrics"
        shape = f"{self.readings_per_batch:,} readings x {self.metrics} {metrics}"
        return f"{self.batches} batches of {shape}, {self.threads} thread(s)"


@dataclass(frozen=True)
class Outcome:
    """What one scenario measured."""

    seconds: float
    values: int
    latencies_ms: list[float]


def scenarios(batches: int) -> list[Scenario]:
    """1 and 3 metrics per reading, from 1 and 2 client threads."""
    return [Scenario(m, t, batches, 5_000) for t in (1, 2) for m in (1, 3)]


def encode_batches(scenario: Scenario, start_ms: int, seed: int) -> list[bytes]:
    """One thread's batch bodies, JSON-encoded, with ever-increasing timestamps."""
    rng = np.random.default_rng(seed)
    names = [f"m{i}" for i in range(scenario.metrics)]
    per_thread = scenario.batches // scenario.threads
    n = scenario.readings_per_batch
    bodies = []
    for b in range(per_thread):
        values = np.round(rng.normal(25.0, 1.0, (n, scenario.metrics)), 3).tolist()
        first = start_ms + b * n * STEP_MS
        readings = [
            {"ts": first + i * STEP_MS, "values": dict(zip(names, row, strict=True))}
            for i, row in enumerate(values)
        ]
        bodies.append(json.dumps(readings).encode())
    return bodies


def send_all(
    server: BenchServer, device_id: str, bodies: list[bytes], expected: int, out: list[float]
) -> None:
    """POST each body in turn on one keep-alive connection; append latencies (ms) to out."""
    with server.client() as client:
        for body in bodies:
            start = time.perf_counter()
            response = client.post(
                f"{API}/devices/{device_id}/telemetry", content=body, headers=JSON_HEADERS
            )
            out.append((time.perf_counter() - start) * 1e3)
            response.raise_for_status()
            if response.json()["readings"] != expected:
                raise RuntimeError(f"server wrote {response.json()['readings']} of {expected}")


def run_scenario(server: BenchServer, client: httpx.Client, scenario: Scenario) -> Outcome:
    """Each thread sends to its own device; wall time from first request to last response."""
    start_ms = int(time.time() * 1000) - HISTORY_MS
    devices = [server.create_device(client, f"ingest-{i}") for i in range(scenario.threads)]
    bodies = [encode_batches(scenario, start_ms, seed) for seed in range(scenario.threads)]
    latencies: list[list[float]] = [[] for _ in devices]
    workers = [
        threading.Thread(
            target=send_all, args=(server, d, b, scenario.values_per_batch, lat), daemon=True
        )
        for d, b, lat in zip(devices, bodies, latencies, strict=True)
    ]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - start
    merged = sorted(ms for per_thread in latencies for ms in per_thread)
    if len(merged) != sum(len(b) for b in bodies):
        raise RuntimeError("a client thread failed; see its traceback above")
    return Outcome(seconds, len(merged) * scenario.values_per_batch, merged)


def telemetry_rows(server: BenchServer) -> int:
    """SELECT count(*) FROM telemetry, straight from the database (not through the API)."""
    query = "SELECT count(*) FROM telemetry"
    if server.database_url is not None:
        with psycopg.connect(server.database_url) as conn:
            found = conn.execute(query).fetchone()
            return int(found[0]) if found else 0
    with sqlite3.connect(server.data_dir / "forewarn.db") as conn:
        return int(conn.execute(query).fetchone()[0])


def outcome_rows(scenario: Scenario, outcome: Outcome) -> list[Row]:
    """Throughput against the target, and the per-batch latency."""
    rate = outcome.values / outcome.seconds
    lat = outcome.latencies_ms
    return [
        (scenario.label, f"{rate:,.0f} readings/s", f">= {TARGET_READINGS_PER_S:,}/s",
         verdict(rate >= TARGET_READINGS_PER_S)),
        (f"  per batch ({scenario.values_per_batch:,} values) p50 / p99",
         f"{percentile(lat, 0.5):.0f} / {percentile(lat, 0.99):.0f} ms", "", ""),
    ]  # fmt: skip


def run(server: BenchServer, batches: int) -> list[Row]:
    """Warm up, run every scenario, then check the table holds exactly what was sent."""
    rows: list[Row] = []
    with server.client() as client:
        warm = Scenario(metrics=1, threads=1, batches=2, readings_per_batch=1_000)
        sent = run_scenario(server, client, warm).values
        for scenario in scenarios(batches):
            outcome = run_scenario(server, client, scenario)
            sent += outcome.values
            rows += outcome_rows(scenario, outcome)
    stored = telemetry_rows(server)
    rows.append(
        ("rows in telemetry table = values sent", f"{stored:,} / {sent:,}", "equal",
         verdict(stored == sent))
    )  # fmt: skip
    return rows


NOTES = [
    "readings/s = metric values stored per second of wall time, client bodies pre-encoded",
    "client threads each send to their own device on one keep-alive connection; the batches "
    "are split evenly over the threads; client, server and database share this machine",
    "latency = request start to response received (the response is a few bytes)",
]


def main() -> None:
    """Start a server, ingest, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server to create a throw-away database on (default: embedded SQLite)",
    )
    parser.add_argument("--quick", action="store_true", help="8 batches per run instead of 40")
    args = parser.parse_args()
    if args.database_url is not None and not is_postgres_url(args.database_url):
        parser.error("--database-url must be a PostgreSQL URL; SQLite is the default")
    with running_server(args.database_url) as server:
        rows = run(server, 8 if args.quick else 40)
        title = f"Forewarn telemetry ingest over HTTP, {describe_backend(server)}"
    print_report(title, rows, NOTES)


if __name__ == "__main__":
    main()
