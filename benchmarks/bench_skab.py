"""Device-level detectors on the SKAB pump rig (and on the simulated rig), per-row decisions.

Run: .venv/bin/python benchmarks/bench_skab.py [--data ../shared/data/skab] [--rig]
     [--algorithms pca_spc,ensemble]

SKAB's protocol (the data's README): per run, fit on the first 400 rows, prime the state
with them, then score the rest one reading at a time; pool the rows of every run and score
the per-row decision (`decide`: the detector's own `is_anomaly`, else its own threshold —
nothing tuned on labels) with F1, the false-alarm rate (FAR, % of normal rows flagged) and
the missed-alarm rate (MAR, % of fault rows missed). `--rig` runs the same on
`forewarn.sim.rig.fault_suite` (seeds 1-3: an hour of training, an hour with five faults)
and adds each fault kind's point-wise recall. Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from forewarn.detection.base import decide
from forewarn.detection.registry import build_detector
from forewarn.sim.rig import RIG_METRICS, fault_suite

REPO = Path(__file__).resolve().parents[1]
SKAB_DIR = REPO.parent / "shared" / "data" / "skab"
TRAIN_ROWS = 400
RIG_SEEDS = (1, 2, 3)


@dataclass(frozen=True)
class Run:
    """One labelled run: timestamps, readings (n, k), fault labels and per-row fault kind."""

    name: str
    metrics: tuple[str, ...]
    ts_ms: np.ndarray
    values: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray
    train_rows: int


def load_skab(data: Path) -> list[Run]:
    """The valve1 runs, in numeric order."""
    runs = []
    for path in sorted((data / "data" / "valve1").glob("*.csv"), key=lambda p: int(p.stem)):
        with path.open() as f:
            reader = csv.reader(f, delimiter=";")
            header = next(reader)
            rows = list(reader)
        stamps = [datetime.fromisoformat(r[0]).replace(tzinfo=UTC) for r in rows]
        ts = np.array([int(s.timestamp() * 1000) for s in stamps], dtype=np.int64)
        values = np.array([[float(x) for x in r[1:9]] for r in rows])
        labels = np.array([float(r[9]) > 0 for r in rows])
        kinds = np.where(labels, "valve1", "")
        runs.append(Run(path.stem, tuple(header[1:9]), ts, values, labels, kinds, TRAIN_ROWS))
    return runs


def rig_runs() -> list[Run]:
    """The simulated rig's fault suite, one run per seed (training hour first)."""
    runs = []
    for seed in RIG_SEEDS:
        train, test = fault_suite(seed)
        ts = np.concatenate([train.ts_ms, test.ts_ms + len(train.ts_ms) * 1000])
        runs.append(
            Run(f"rig{seed}", RIG_METRICS, ts, np.vstack([train.values, test.values]),
                np.concatenate([train.labels, test.labels]),
                np.concatenate([train.fault, test.fault]), len(train.ts_ms))
        )  # fmt: skip
    return runs


def decisions(name: str, run: Run) -> tuple[np.ndarray, float]:
    """The detector's per-row decision on every scored row, and its scoring seconds."""
    n = run.train_rows
    detector = build_detector(name, seed=0, metrics=run.metrics).detector
    detector.fit(run.ts_ms[:n], run.values[:n])
    state = detector.prime(run.ts_ms[:n], run.values[:n])
    started = time.perf_counter()
    flags = [
        decide(state.update(t, v), detector.threshold_)
        for t, v in zip(run.ts_ms[n:].tolist(), run.values[n:].tolist(), strict=True)
    ]
    return np.array(flags, dtype=bool), time.perf_counter() - started


def report(title: str, runs: list[Run], algorithms: list[str]) -> None:
    """Pooled F1 / FAR / MAR per algorithm (and per fault kind's recall), as a table."""
    kinds = sorted({k for r in runs for k in r.kinds.tolist() if k})
    print(f"\n{title}: {len(runs)} runs, {sum(len(r.labels) - r.train_rows for r in runs)} rows")
    print(f"{'algorithm':<10} {'F1':>6} {'FAR %':>7} {'MAR %':>7} {'readings/s':>11}  "
          + "  ".join(f"{k:>10}" for k in kinds))  # fmt: skip
    for name in algorithms:
        print(f"{name:<10} {pooled_row(name, runs, kinds)}")


def pooled_row(name: str, runs: list[Run], kinds: list[str]) -> str:
    """One algorithm's pooled figures over every scored row of `runs`."""
    replays = [decisions(name, run) for run in runs]
    d = np.concatenate([flags for flags, _ in replays])
    y = np.concatenate([run.labels[run.train_rows :] for run in runs])
    k = np.concatenate([run.kinds[run.train_rows :] for run in runs])
    seconds = sum(took for _, took in replays)
    tp, fp = int((d & y).sum()), int((d & ~y).sum())
    fn, tn = int((~d & y).sum()), int((~d & ~y).sum())
    f1, far, mar = 2 * tp / max(2 * tp + fp + fn, 1), fp / max(fp + tn, 1), fn / max(fn + tp, 1)
    recall = "  ".join(f"{d[k == kind].mean():>10.2f}" for kind in kinds)
    speed = len(d) / seconds
    return f"{f1:>6.3f} {100 * far:>7.1f} {100 * mar:>7.1f} {speed:>11,.0f}  {recall}"


def main() -> None:
    """Parse the arguments and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SKAB_DIR)
    parser.add_argument("--rig", action="store_true", help="also run the simulated rig")
    parser.add_argument("--algorithms", default="pca_spc,ensemble")
    args = parser.parse_args()
    algorithms = args.algorithms.split(",")
    report("SKAB valve1 (fit on 400 rows, all 8 metrics)", load_skab(args.data), algorithms)
    if args.rig:
        report(f"Simulated rig (forewarn.sim.rig, seeds {RIG_SEEDS})", rig_runs(), algorithms)


if __name__ == "__main__":
    main()
