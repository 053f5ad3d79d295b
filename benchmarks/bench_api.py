"""End-to-end API benchmark: training, single and batch prediction, model size, over real HTTP.

Run: .venv/bin/python benchmarks/bench_api.py [--database-url postgresql://...] [--quick]

The server is a real `forewarn serve` subprocess (see _server.py); the client runs in this
process on the same machine, so both compete for the same CPU cores. Exits 0 whatever the
figures: it reports against the targets, it does not assert them.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
import tracemalloc
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
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

from forewarn.artifacts import artifact_key, load_artifact
from forewarn.detection.isolation_forest import IsolationForestDetector
from forewarn.detection.registry import DEFAULT_ALGORITHM, algorithm

TRAIN_READINGS = 1_000
STEP_MS = 120_000  # 1,000 training readings then span more than a day
OUTLIER_SHARE = 0.01
TARGET_TRAIN_S = 0.2
TARGET_P50_MS = 3.0
TARGET_P99_MS = 15.0
TARGET_VALUES_PER_S = 100_000
TARGET_MODEL_BYTES = 500_000  # 0.5 MB
TARGET_ARTIFACT_BYTES = 100_000  # 100 KB


@dataclass(frozen=True)
class Plan:
    """How much work one run does."""

    trainings: int
    warmup_requests: int
    single_requests: int
    batch_values: int
    batch_repeats: int
    algorithm: str = DEFAULT_ALGORITHM


FULL = Plan(5, warmup_requests=300, single_requests=3_000, batch_values=100_000, batch_repeats=3)
QUICK = Plan(5, warmup_requests=100, single_requests=1_000, batch_values=100_000, batch_repeats=1)
# Training data ends this long ago. Predicted readings are stored, each with its own time,
# and keep the training data's sampling (a detector that learned one reading every two
# minutes rightly finds readings a second apart unusual); each measured series moves forward
# on its own clock from the end of its training data, so 3 x 100,000 readings fit before now.
HISTORY_END_AGO_MS = 420 * 86_400_000


class ReadingClock:
    """Strictly increasing reading times after the training data."""

    def __init__(self, start_ms: int) -> None:
        self.next_ms = start_ms

    def take(self, n: int, step_ms: int) -> list[int]:
        """The next n times, step_ms apart."""
        stamps = [self.next_ms + i * step_ms for i in range(n)]
        self.next_ms = stamps[-1] + step_ms
        return stamps


def normal_values(rng: np.random.Generator, stamps: list[int] | np.ndarray) -> np.ndarray:
    """Temperature-like values: a daily cycle at the readings' time of day, plus sensor noise."""
    day_share = (np.asarray(stamps, dtype=np.int64) % 86_400_000) / 86_400_000
    noise = rng.normal(0, 0.5, len(day_share))
    return np.round(25.0 + 2.0 * np.sin(2 * np.pi * day_share) + noise, 2)


def mixed_values(rng: np.random.Generator, stamps: list[int]) -> tuple[list[float], list[bool]]:
    """Normal values with ~1 % outliers (far hotter or colder); returns values and outlier flags."""
    values = normal_values(rng, stamps)
    n = len(values)
    outlier = rng.random(n) < OUTLIER_SHARE
    values[outlier] = np.round(rng.choice([-1.0, 1.0], int(outlier.sum())) * 20.0 + 25.0, 2)
    return values.tolist(), outlier.tolist()


# --- training --------------------------------------------------------------------------------


def ingest_training_data(
    server: BenchServer, client: httpx.Client, metrics: list[str], rng: np.random.Generator
) -> str:
    """One device with 1,000 readings of every metric, one every STEP_MS, ending long ago."""
    device_id = server.create_device(client, "bench-api")
    end = int(time.time() * 1000) - HISTORY_END_AGO_MS
    stamps = [end - (TRAIN_READINGS - 1 - i) * STEP_MS for i in range(TRAIN_READINGS)]
    columns = {m: normal_values(rng, stamps).tolist() for m in metrics}
    readings = [
        {"ts": ts, "values": {m: columns[m][i] for m in metrics}} for i, ts in enumerate(stamps)
    ]
    response = client.post(f"{API}/devices/{device_id}/telemetry", json=readings)
    response.raise_for_status()
    return device_id


def train(
    client: httpx.Client, device_id: str, metric: str, name: str
) -> tuple[float, dict[str, Any]]:
    """Seconds for one POST /ml/models/train round trip, and the model it returned."""
    start = time.perf_counter()
    body = {"device_id": device_id, "metric_name": metric, "algorithm": name}
    response = client.post(f"{API}/ml/models/train", json=body)
    seconds = time.perf_counter() - start
    response.raise_for_status()
    model: dict[str, Any] = response.json()
    if model["sample_count"] != TRAIN_READINGS:
        raise RuntimeError(f"trained on {model['sample_count']} readings, not {TRAIN_READINGS}")
    return seconds, model


def bench_training(
    client: httpx.Client, device_id: str, metrics: list[str], name: str
) -> tuple[list[Row], dict[str, Any]]:
    """A cold first training (sklearn import), then the median of one per other series."""
    cold, _ = train(client, device_id, metrics[0], name)
    timed = [train(client, device_id, m, name) for m in metrics[1:]]
    seconds = [s for s, _ in timed]
    median = statistics.median(seconds)
    rows = [
        (
            f"train over HTTP, {TRAIN_READINGS:,} readings (median of {len(seconds)} series)",
            f"{median * 1e3:.0f} ms",
            f"<= {TARGET_TRAIN_S * 1e3:.0f} ms",
            verdict(median <= TARGET_TRAIN_S),
        ),
        ("  min / max of those", f"{min(seconds) * 1e3:.0f} / {max(seconds) * 1e3:.0f} ms", "", ""),
        ("  first training (cold: sklearn import)", f"{cold * 1e3:.0f} ms", "", ""),
    ]
    return rows, timed[-1][1]


def bench_fit_in_process(rng: np.random.Generator, repeats: int) -> Row:
    """IsolationForestDetector.fit on 1,000 values in this process (server defaults)."""
    import sklearn.ensemble  # noqa: F401  # keep the one-off import out of the timing

    data = normal_values(rng, np.arange(TRAIN_READINGS) * STEP_MS)
    seconds = []
    for _ in range(repeats):
        detector = IsolationForestDetector(n_estimators=100, contamination=0.01, seed=0)
        start = time.perf_counter()
        detector.fit(data)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return (
        f"  in-process fit, {TRAIN_READINGS:,} values (median of {repeats})",
        f"{median * 1e3:.0f} ms",
        f"<= {TARGET_TRAIN_S * 1e3:.0f} ms",
        verdict(median <= TARGET_TRAIN_S),
    )


# --- single prediction -----------------------------------------------------------------------


def bench_single(
    client: httpx.Client,
    series: dict[str, str],
    clock: ReadingClock,
    plan: Plan,
    rng: np.random.Generator,
) -> list[Row]:
    """Sequential POST /ml/predict on one keep-alive connection, after a warm-up."""
    stamps = clock.take(plan.warmup_requests + plan.single_requests, STEP_MS)
    values, outlier = mixed_values(rng, stamps)
    latencies, flagged = [], 0
    for i, value in enumerate(values):
        start = time.perf_counter_ns()
        body = {**series, "value": value, "timestamp": stamps[i]}
        response = client.post(f"{API}/ml/predict", json=body)
        response.raise_for_status()
        is_anomaly = response.json()["is_anomaly"]
        elapsed = (time.perf_counter_ns() - start) / 1e6
        if i >= plan.warmup_requests:
            latencies.append((elapsed, outlier[i]))
            flagged += bool(is_anomaly)
    return _latency_rows(latencies, flagged)


def _latency_rows(latencies: list[tuple[float, bool]], flagged: int) -> list[Row]:
    every = sorted(ms for ms, _ in latencies)
    outliers = sorted(ms for ms, is_outlier in latencies if is_outlier)
    p50, p90, p99 = (percentile(every, q) for q in (0.5, 0.9, 0.99))
    n = len(every)
    return [
        (f"predict one value, p50 ({n:,} requests)", f"{p50:.2f} ms",
         f"<= {TARGET_P50_MS:g} ms", verdict(p50 <= TARGET_P50_MS)),
        ("predict one value, p99", f"{p99:.2f} ms",
         f"<= {TARGET_P99_MS:g} ms", verdict(p99 <= TARGET_P99_MS)),
        ("  p90 / max", f"{p90:.2f} / {every[-1]:.2f} ms", "", ""),
        ("  throughput (sequential)", f"{n / (sum(every) / 1e3):,.0f} req/s", "", ""),
        (f"  sent outliers: {len(outliers)}; flagged anomalies: {flagged}",
         f"p50 {percentile(outliers, 0.5):.2f} ms" if outliers else "-", "", ""),
    ]  # fmt: skip


# --- batch prediction ------------------------------------------------------------------------


def series_body(series: dict[str, str], values: list[float], stamps: list[int]) -> dict[str, Any]:
    """The columnar form: one series with all its values and their times."""
    return {"series": [{**series, "values": values, "timestamps": stamps}]}


def items_body(series: dict[str, str], values: list[float], stamps: list[int]) -> dict[str, Any]:
    """The object-per-value form."""
    return {
        "items": [
            {**series, "value": v, "timestamp": t} for v, t in zip(values, stamps, strict=True)
        ]
    }


@dataclass(frozen=True)
class BatchTiming:
    """Seconds spent on one batch request, client request start to response parsed."""

    encode: float
    http: float
    decode: float
    request_bytes: int
    response_bytes: int

    @property
    def total(self) -> float:
        """End-to-end seconds."""
        return self.encode + self.http + self.decode


def post_batch(client: httpx.Client, body: dict[str, Any], expected: int) -> BatchTiming:
    """JSON-encode, POST and parse one batch, timing each step."""
    start = time.perf_counter()
    raw = json.dumps(body).encode()
    sent = time.perf_counter()
    response = client.post(f"{API}/ml/predict/batch", content=raw, headers=JSON_HEADERS)
    received = time.perf_counter()
    response.raise_for_status()
    parsed = response.json()
    done = time.perf_counter()
    if parsed["count"] != expected:
        raise RuntimeError(f"batch scored {parsed['count']} values, not {expected}")
    return BatchTiming(
        sent - start, received - sent, done - received, len(raw), len(response.content)
    )


def bench_batch(
    client: httpx.Client,
    plan: Plan,
    rng: np.random.Generator,
    clocks: dict[str, tuple[dict[str, str], ReadingClock]],
) -> list[Row]:
    """One large batch in each form (median of the repeats), values/s end to end."""
    warm, warm_clock = clocks["warm-up"]
    post_batch(client, series_body(warm, [25.0] * 1_000, warm_clock.take(1_000, STEP_MS)), 1_000)
    rows: list[Row] = []
    for form, make_body in (("series", series_body), ("items", items_body)):
        series, clock = clocks[form]
        bodies = []
        for _ in range(plan.batch_repeats):
            stamps = clock.take(plan.batch_values, STEP_MS)
            bodies.append(make_body(series, mixed_values(rng, stamps)[0], stamps))
        runs = [post_batch(client, body, plan.batch_values) for body in bodies]
        timing = sorted(runs, key=lambda t: t.total)[len(runs) // 2]
        rate = plan.batch_values / timing.total
        rows += [
            (f"predict batch, `{form}` form, {plan.batch_values:,} values", f"{rate:,.0f} values/s",
             f">= {TARGET_VALUES_PER_S:,}/s", verdict(rate >= TARGET_VALUES_PER_S)),
            ("  client encode / HTTP round trip / client parse",
             f"{timing.encode * 1e3:.0f} / {timing.http * 1e3:.0f} / {timing.decode * 1e3:.0f} ms",
             "", ""),
            ("  request / response body",
             f"{timing.request_bytes / 1e6:.1f} / {timing.response_bytes / 1e6:.1f} MB", "", ""),
        ]  # fmt: skip
    return rows


# --- model size ------------------------------------------------------------------------------


def bench_model_size(server: BenchServer, client: httpx.Client, model: dict[str, Any]) -> list[Row]:
    """Artifact size as the API reports it; memory of the detector loaded from that file."""
    response = client.get(f"{API}/ml/models/{model['id']}")
    response.raise_for_status()
    size = int(response.json()["artifact_size"])
    path = _artifact_file(server.data_dir, model)
    retained, peak = loaded_model_memory(path, artifact_key(server.secret))
    return [
        ("model artifact on disk (GET /ml/models/{id})", f"{size / 1e3:.1f} KB",
         f"<= {TARGET_ARTIFACT_BYTES / 1e3:.0f} KB", verdict(size <= TARGET_ARTIFACT_BYTES)),
        ("loaded model in memory (tracemalloc, retained)", f"{retained / 1e3:.1f} KB",
         f"<= {TARGET_MODEL_BYTES / 1e6:g} MB", verdict(retained <= TARGET_MODEL_BYTES)),
        ("  peak while loading", f"{peak / 1e3:.1f} KB", "", ""),
    ]  # fmt: skip


def _artifact_file(data_dir: Path, model: dict[str, Any]) -> Path:
    """The model's file: the only artifact of its series (each series is trained once here)."""
    folder = data_dir / "models" / str(model["device_id"]) / str(model["metric_name"])
    files = sorted(folder.glob("*.npz"))
    if len(files) != 1:
        raise RuntimeError(f"expected one artifact in {folder}, found {len(files)}")
    return files[0]


def _load(path: Path, key: bytes) -> object:
    arrays, meta = load_artifact(path, key)
    return algorithm(str(meta["algorithm"])).load(arrays, meta["parameters"])


def loaded_model_memory(path: Path, key: bytes) -> tuple[int, int]:
    """Bytes still held by a detector loaded from `path`, and the peak during loading."""
    _load(path, key)  # lazy imports, caches
    gc.collect()
    tracemalloc.start()
    detector = _load(path, key)
    gc.collect()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del detector
    return retained, peak


# --- driver ----------------------------------------------------------------------------------


def run(server: BenchServer, plan: Plan) -> list[Row]:
    """Every measurement against one server."""
    rng = np.random.default_rng(0)
    metrics = [f"temp_{i}" for i in range(plan.trainings + 1)]
    with server.client() as client:
        device_id = ingest_training_data(server, client, metrics, rng)
        rows, model = bench_training(client, device_id, metrics, plan.algorithm)
        rows.append(bench_fit_in_process(rng, plan.trainings))
        start = int(time.time() * 1000) - HISTORY_END_AGO_MS + STEP_MS
        clocks = {
            use: ({"device_id": device_id, "metric_name": metric}, ReadingClock(start))
            for use, metric in zip(
                ("single", "warm-up", "series", "items"), metrics[1:], strict=False
            )
        }
        rows += bench_single(client, *clocks["single"], plan, rng)
        rows += bench_batch(client, plan, rng, clocks)
        rows += bench_model_size(server, client, model)
    return rows


NOTES = [
    "client and server share this machine's cores; the server is one uvicorn process "
    "(`forewarn serve` defaults: access log off, GC tuned; isolation_forest: 100 trees, "
    "contamination 0.01)",
    "every predicted reading carries its own timestamp and is stored as telemetry, then "
    "scored in time order with the series' server-held stream",
    "train: POST round trip incl. reading the window from the database, fit, signed artifact "
    "write (fsync) and commit; the first (cold) training is excluded from the median",
    "predict: sequential requests on one keep-alive httpx.Client; latency = request start "
    "to JSON response parsed; values are ~1 % outliers (each anomaly is stored: one commit)",
    "batch: end to end = client json.dumps + HTTP round trip + client response parse "
    "(median of the repeats); values include ~1 % outliers, stored as anomalies",
]


def main() -> None:
    """Start a server, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server to create a throw-away database on (default: embedded SQLite)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests, one batch each")
    parser.add_argument(
        "--algorithm",
        default=DEFAULT_ALGORITHM,
        help=f"model to train (default {DEFAULT_ALGORITHM})",
    )
    args = parser.parse_args()
    if args.database_url is not None and not is_postgres_url(args.database_url):
        parser.error("--database-url must be a PostgreSQL URL; SQLite is the default")
    plan = replace(QUICK if args.quick else FULL, algorithm=algorithm(args.algorithm).name)
    with running_server(args.database_url) as server:
        rows = run(server, plan)
        title = f"Forewarn API over HTTP, {describe_backend(server)}, {plan.algorithm}"
    print_report(title, rows, NOTES)


if __name__ == "__main__":
    main()
