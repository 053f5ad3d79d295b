"""Benchmark every registered detector: streaming speed, training time, memory, artifact size.

Run: .venv/bin/python benchmarks/bench_streaming.py [--algorithms a,b] [--readings 20000]
     [--batch 100000]

One process, one series, one core: readings/s of `DetectorState.update` on a 1-minute
temperature series (after priming on 10,000 readings; through the event tracker, as the
pipeline scores), and of `update_batch` on the same readings in one
batch (as the batch endpoint scores them, with the same results), training time on those
10,000 readings (best of three, scikit-learn imported beforehand), memory the fitted detector
and its primed state keep (tracemalloc), and the artifact size (np.savez_compressed of
to_arrays()). Then the default's `update_batch` on one batch of `--batch` readings (best of
three, a freshly primed state each time). Targets for the default: >= 20,000 readings/s one
at a time, >= 300,000 readings/s in a 100,000-reading batch and <= 1 s training. Exits 0
whatever the figures.
"""

from __future__ import annotations

import argparse
import gc
import io
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from forewarn.detection.base import BatchState, Detector
from forewarn.detection.registry import ALGORITHMS, DEFAULT_ALGORITHM, algorithm
from forewarn.detection.tracked import tracked
from forewarn.sim import TEMPERATURE, generate

INTERVAL_MS = 60_000
TRAIN_READINGS = 10_000
START_MS = 1_704_067_200_000


def readings(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n one-minute temperature readings from the simulator (seeded)."""
    ts = START_MS + np.arange(n, dtype=np.int64) * INTERVAL_MS
    return ts, generate(TEMPERATURE, START_MS, n, INTERVAL_MS, np.random.default_rng(7))


def best_of(repeats: int, run: Callable[[], Any]) -> float:
    """Fastest of a few runs, in seconds: the least disturbed by other processes."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def retained_bytes(build: Callable[[], Any]) -> tuple[int, Any]:
    """Bytes still allocated after `build` returns (what its result keeps alive)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, result


def artifact_bytes(detector: Detector) -> int:
    """Size of the compressed arrays an artifact stores."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **detector.to_arrays())
    return buffer.getbuffer().nbytes


def measure(name: str, n_stream: int) -> list[str]:
    """One algorithm's figures as table cells."""
    ts, values = readings(TRAIN_READINGS + n_stream)
    train_ts, train_values = ts[:TRAIN_READINGS], values[:TRAIN_READINGS]
    create = algorithm(name).create
    fit_seconds = best_of(3, lambda: create().fit(train_ts, train_values))
    model_bytes, detector = retained_bytes(lambda: create().fit(train_ts, train_values))
    stream_bytes, state = retained_bytes(lambda: tracked(detector, train_ts, train_values))
    rows = list(zip(ts[TRAIN_READINGS:].tolist(), values[TRAIN_READINGS:].tolist(), strict=True))
    update = state.update
    started = time.perf_counter()
    for t, v in rows:
        update(t, v)
    rate = len(rows) / (time.perf_counter() - started)
    stamps, streamed = ts[TRAIN_READINGS:].tolist(), values[TRAIN_READINGS:].tolist()
    batch = batch_rate(detector, (train_ts, train_values), stamps, streamed)
    mark = " *" if name == DEFAULT_ALGORITHM else ""
    return [
        name + mark,
        f"{rate:,.0f}",
        f"{1e6 / rate:.1f}",
        f"{batch:,.0f}" if batch else "-",
        f"{fit_seconds * 1e3:,.0f}",
        f"{model_bytes / 1024:,.0f}",
        f"{stream_bytes / 1024:,.0f}",
        f"{artifact_bytes(detector) / 1024:,.1f}",
    ]


def batch_rate(
    detector: Detector,
    history: tuple[np.ndarray, np.ndarray],
    stamps: list[int],
    values: list[float],
    repeats: int = 1,
) -> float:
    """Readings/s of one `update_batch` call on a state primed on `history` (best of
    `repeats`, a fresh state each time); 0 if the state has no batch path."""
    best = 0.0
    for _ in range(repeats):
        state = tracked(detector, *history)
        if not isinstance(state, BatchState):
            return 0.0
        started = time.perf_counter()
        state.update_batch(stamps, values, detector.threshold_)
        best = max(best, len(stamps) / (time.perf_counter() - started))
    return best


def default_batch_line(n_batch: int) -> str:
    """The default detector's `update_batch` on one batch of `n_batch` readings."""
    ts, values = readings(TRAIN_READINGS + n_batch)
    history = ts[:TRAIN_READINGS], values[:TRAIN_READINGS]
    detector = algorithm(DEFAULT_ALGORITHM).create().fit(*history)
    stamps, batch = ts[TRAIN_READINGS:].tolist(), values[TRAIN_READINGS:].tolist()
    rate = batch_rate(detector, history, stamps, batch, repeats=3)
    return (
        f"{DEFAULT_ALGORITHM} update_batch of {n_batch:,} readings: {rate:,.0f} readings/s "
        f"({1e6 / rate:.2f} µs/reading; target >= 300,000 readings/s)"
    )


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", default=",".join(spec.name for spec in ALGORITHMS))
    parser.add_argument("--readings", type=int, default=20_000, help="readings streamed")
    parser.add_argument("--batch", type=int, default=100_000, help="readings in the batch line")
    args = parser.parse_args()
    create = algorithm(DEFAULT_ALGORITHM).create
    create().fit(*readings(500))  # keep scikit-learn's one-off import out of the timings
    header = ["algorithm", "readings/s", "µs/reading", "batch readings/s", "fit 10k ms",
              "model KiB", "state KiB", "artifact KiB"]  # fmt: skip
    rows = [measure(name.strip(), args.readings) for name in args.algorithms.split(",")]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = zip(row, widths, strict=True)
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(cells)))
    print("targets for the default (*): >= 20,000 readings/s, fit on 10,000 readings <= 1,000 ms")
    print(default_batch_line(args.batch))


if __name__ == "__main__":
    main()
