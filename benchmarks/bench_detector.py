"""Benchmark the Isolation Forest detector: fit time, scoring speed, memory, artifact size.

Run: .venv/bin/python benchmarks/bench_detector.py [--trees 100] [--calls 100000]
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from forewarn.artifacts import artifact_key, load_artifact, save_artifact
from forewarn.detection.isolation_forest import IsolationForestDetector

Row = tuple[str, str, str]


def _readings(rng: np.random.Generator, n: int) -> np.ndarray:
    """Temperature-like readings: a daily cycle plus noise, at 0.01 resolution."""
    t = np.arange(n)
    return (25.5 + 2.0 * np.sin(2 * np.pi * t / 1440) + rng.normal(0, 0.6, n)).round(2)


def _best_of(repeats: int, run: Callable[[], object]) -> float:
    """Fastest of a few runs, in seconds: the least disturbed by other processes."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_fit(args: argparse.Namespace, rng: np.random.Generator) -> list[Row]:
    """Fit time on 1,000 and 10,000 readings (sklearn imported beforehand)."""
    # Keep sklearn's one-off import and lazy set-up out of the timings.
    _detector(args).fit(_readings(rng, 100))
    rows = []
    for n in (1_000, 10_000):
        data = _readings(rng, n)
        seconds = _best_of(3, functools.partial(_detector(args).fit, data))
        rows.append((f"fit, {n:,} readings", f"{seconds * 1e3:.1f} ms", ""))
    return rows


def bench_single(detector: IsolationForestDetector, calls: int, rng: np.random.Generator) -> Row:
    """Per-call latency of score_one, timed call by call (timer overhead included)."""
    values = rng.normal(25.5, 3.0, calls).tolist()
    score_one, clock = detector.score_one, time.perf_counter_ns
    latencies = []
    for value in values:
        start = clock()
        score_one(value)
        latencies.append(clock() - start)
    cuts = statistics.quantiles(latencies, n=100)
    text = f"p50 {cuts[49] / 1e3:.2f} µs, p99 {cuts[98] / 1e3:.2f} µs"
    return (f"score_one, {calls:,} calls", text, "p50 <= 5 µs")


def bench_batch(detector: IsolationForestDetector, size: int, rng: np.random.Generator) -> Row:
    """Throughput of score_many on one batch of float64 values."""
    values = rng.normal(25.5, 3.0, size)
    seconds = _best_of(5, lambda: detector.score_many(values))
    return (f"score_many, {size:,} values", f"{size / seconds / 1e6:.1f} M values/s", ">= 5 M/s")


def bench_batch_2d(args: argparse.Namespace, size: int, rng: np.random.Generator) -> Row:
    """Throughput of the level-by-level traversal on 3-feature rows."""
    detector = _detector(args).fit(rng.normal(size=(1_000, 3)))
    rows = rng.normal(0, 2, (size, 3))
    seconds = _best_of(3, lambda: detector.score_many(rows))
    return (f"score_many 3 features, {size:,} rows", f"{size / seconds / 1e6:.2f} M rows/s", "")


def bench_storage(detector: IsolationForestDetector, folder: Path) -> list[Row]:
    """Artifact size on disk and memory of the model once loaded from it."""
    key = artifact_key("benchmark-secret")
    path = folder / "model.fwm"
    size = save_artifact(path, detector.to_arrays(), detector.params(), key)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    arrays, meta = load_artifact(path, key)
    loaded = IsolationForestDetector.from_arrays(arrays, params=meta)
    del arrays
    gc.collect()
    retained = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    compiled = loaded.scorer_.nbytes
    compact = sum(a.nbytes for a in loaded.to_arrays().values())
    return [
        ("artifact on disk", f"{size / 1024:.1f} KiB", "<= 100 KB"),
        ("compiled scorer arrays", f"{compiled / 1024:.1f} KiB", "<= 0.5 MB"),
        ("compact encoding arrays", f"{compact / 1024:.1f} KiB", ""),
        ("tracemalloc: retained after load", f"{retained / 1024:.1f} KiB", ""),
        ("tracemalloc: peak during load", f"{peak / 1024:.1f} KiB", ""),
    ]


def _detector(args: argparse.Namespace) -> IsolationForestDetector:
    return IsolationForestDetector(n_estimators=args.trees, seed=args.seed)


def _print_table(rows: list[Row]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    """Run every benchmark and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=100, help="trees per forest")
    parser.add_argument("--calls", type=int, default=100_000, help="score_one calls")
    parser.add_argument("--batch", type=int, default=100_000, help="values per score_many")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    rows: list[Row] = [("measure", "result", "target")]
    rows += bench_fit(args, rng)
    detector = _detector(args).fit(_readings(rng, 1_000))
    rows.append(bench_single(detector, args.calls, rng))
    rows.append(bench_batch(detector, args.batch, rng))
    rows.append(bench_batch_2d(args, args.batch, rng))
    with tempfile.TemporaryDirectory() as folder:
        rows += bench_storage(detector, Path(folder))
    print(f"Isolation Forest, {args.trees} trees, model trained on 1,000 readings")
    _print_table(rows)


if __name__ == "__main__":
    main()
