"""Device-level detectors on the SKAB pump rig (and on the simulated rig), point-wise.

Run: .venv/bin/python benchmarks/bench_skab.py [--data ../shared/data/skab] [--rig]
     [--algorithms pca_spc,ensemble] [--set smoothing=1 ...] [--cv [--grid alarm=1,2 ...]]

SKAB's protocol (the data's README): per run, fit on the first 400 rows, prime the state
with them, then score the rest one reading at a time; pool the rows of every run and score
the anomalous state (`Scored.anomalous` from the shipped event tracker,
`forewarn.detection.events`, at the detector's own threshold — nothing tuned on labels) with F1, the
false-alarm rate (FAR, % of normal rows anomalous) and the missed-alarm rate (MAR, % of
fault rows not). `--rig` runs the same on `forewarn.sim.rig.fault_suite` (seeds 1-3: an
hour of training, an hour with five faults) and adds each fault kind's point-wise recall.
`--set name=value` overrides a detector parameter (ablations); `--cv` chooses pca_spc's
quantile (the limits), alarm line, release level and change horizon by leave-one-run-out
cross-validation (best F1 within the false-alarm budget, on the other runs and the rig);
`--grid name=v1,v2` replaces one axis of its grid. Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from forewarn.detection.registry import build_detector
from forewarn.detection.tracked import tracked
from forewarn.sim.rig import RIG_METRICS, fault_suite

REPO = Path(__file__).resolve().parents[1]
SKAB_DIR = REPO.parent / "shared" / "data" / "skab"
TRAIN_ROWS = 400
RIG_SEEDS = (1, 2, 3)
CV_GRID: dict[str, tuple[object, ...]] = {
    "quantile": (0.999999, 0.9999999, 0.99999999),
    "alarm": (1.0, 1.5, 2.0),
    "release": (0.8, 1.0),
    "horizon": (0, 10),
}
FAR_BUDGET = 10.0  # % of normal rows: the product's false-alarm target


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


@dataclass(frozen=True)
class Replay:
    """One detector's anomalous state on the scored rows of a run, and its speeds."""

    state: np.ndarray
    seconds: float  # scoring one reading at a time
    batch_seconds: float  # scoring the same rows in one batch (`score_batch`, no explaining)


def replay(name: str, run: Run, overrides: dict[str, object]) -> Replay:
    """Fit, prime, score the rest one reading at a time, and time a batch of the same."""
    n = run.train_rows
    detector = build_detector(name, overrides, seed=0, metrics=run.metrics).detector
    detector.fit(run.ts_ms[:n], run.values[:n])
    state = tracked(detector, run.ts_ms[:n], run.values[:n])
    started = time.perf_counter()
    scored = [
        state.update(t, v)
        for t, v in zip(run.ts_ms[n:].tolist(), run.values[n:].tolist(), strict=True)
    ]
    seconds = time.perf_counter() - started
    batch = detector.prime(run.ts_ms[:n], run.values[:n])
    started = time.perf_counter()
    batch.score_batch(run.ts_ms[n:], run.values[n:])  # type: ignore[attr-defined]
    took = time.perf_counter() - started
    return Replay(np.array([bool(s.anomalous) for s in scored]), seconds, took)


def figures(states: list[np.ndarray], runs: list[Run]) -> tuple[float, float, float]:
    """Pooled point-wise F1, FAR % and MAR % of the anomalous states of `runs`."""
    d, y = np.concatenate(states), np.concatenate([r.labels[r.train_rows :] for r in runs])
    tp, fp = int((d & y).sum()), int((d & ~y).sum())
    fn, tn = int((~d & y).sum()), int((~d & ~y).sum())
    return 2 * tp / max(2 * tp + fp + fn, 1), 100 * fp / max(fp + tn, 1), 100 * fn / max(fn + tp, 1)


def report(
    title: str, runs: list[Run], algorithms: list[str], overrides: dict[str, object]
) -> None:
    """Pooled F1 / FAR / MAR per algorithm (and per fault kind's recall), as a table."""
    kinds = sorted({k for r in runs for k in r.kinds.tolist() if k})
    print(f"\n{title}: {len(runs)} runs, {sum(len(r.labels) - r.train_rows for r in runs)} rows")
    print(f"{'algorithm':<10} {'F1':>6} {'FAR %':>7} {'MAR %':>7} {'one/s':>9} {'batch/s':>9}  "
          + "  ".join(f"{k:>10}" for k in kinds))  # fmt: skip
    for name in algorithms:
        print(f"{name:<10} {pooled_row(name, runs, kinds, overrides)}")


def pooled_row(name: str, runs: list[Run], kinds: list[str], overrides: dict[str, object]) -> str:
    """One algorithm's pooled figures over every scored row of `runs`."""
    replays = [replay(name, run, overrides) for run in runs]
    f1, far, mar = figures([r.state for r in replays], runs)
    d = np.concatenate([r.state for r in replays])
    k = np.concatenate([run.kinds[run.train_rows :] for run in runs])
    recall = "  ".join(f"{d[k == kind].mean():>10.2f}" for kind in kinds)
    one = len(d) / sum(r.seconds for r in replays)
    batch = len(d) / sum(r.batch_seconds for r in replays)
    return f"{f1:>6.3f} {far:>7.1f} {mar:>7.1f} {one:>9,.0f} {batch:>9,.0f}  {recall}"


def criterion(
    skab: tuple[float, float, float], rig: tuple[float, float, float]
) -> tuple[bool, float]:
    """Within the FAR budget on both (else the smallest FAR), then the mean F1."""
    worst = max(skab[1], rig[1])
    return worst <= FAR_BUDGET, (skab[0] + rig[0]) / 2 if worst <= FAR_BUDGET else -worst


def cross_validate(skab: list[Run], rig: list[Run], space: dict[str, tuple[object, ...]]) -> None:
    """Leave one SKAB run out: pick the grid point by `criterion` on the other runs and the
    simulated rig; score the left-out run with it; pool."""
    grid = [dict(zip(space, p, strict=True)) for p in itertools.product(*space.values())]
    grid = [g for g in grid if float(g.get("release", 1)) <= float(g.get("alarm", 1))]  # type: ignore[arg-type]
    states = [[replay("pca_spc", run, g).state for run in skab] for g in grid]
    on_rig = [figures([replay("pca_spc", run, g).state for run in rig], rig) for g in grid]
    held, picks = [], []
    for i in range(len(skab)):
        others = [r for j, r in enumerate(skab) if j != i]
        fit = [figures([s for j, s in enumerate(st) if j != i], others) for st in states]
        best = max(range(len(grid)), key=lambda g: criterion(fit[g], on_rig[g]))
        held.append(states[best][i])
        picks.append(json.dumps(grid[best], sort_keys=True))
    print(
        f"\nLeave-one-run-out on SKAB (criterion: FAR <= {FAR_BUDGET} % on the other runs and"
        " on the rig, then the mean of their F1)"
    )
    for g, params in enumerate(grid):
        on_skab = "{:.3f} {:.1f} {:.1f}".format(*figures(states[g], skab))
        on_sim = "{:.3f} {:.1f} {:.1f}".format(*on_rig[g])
        print(f"  {json.dumps(params, sort_keys=True)}: SKAB {on_skab} | rig {on_sim}")
    print("picked per fold:", {p: picks.count(p) for p in sorted(set(picks))})
    print("held-out F1 {:.3f}  FAR {:.1f} %  MAR {:.1f} %".format(*figures(held, skab)))


def parsed_overrides(pairs: list[str]) -> dict[str, object]:
    """`name=value` pairs as detector parameters (values read as JSON)."""
    return {k: json.loads(v) for k, v in (p.split("=", 1) for p in pairs)}


def parsed_grid(pairs: list[str]) -> dict[str, tuple[object, ...]]:
    """`name=v1,v2` pairs as grid axes (values read as JSON) that replace the default ones."""
    return {k: tuple(json.loads(f"[{v}]")) for k, v in (p.split("=", 1) for p in pairs)}


def main() -> None:
    """Parse the arguments and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SKAB_DIR)
    parser.add_argument("--rig", action="store_true", help="also run the simulated rig")
    parser.add_argument("--algorithms", default="pca_spc,ensemble")
    parser.add_argument("--set", action="append", default=[], help="parameter=value (JSON)")
    parser.add_argument("--cv", action="store_true", help="cross-validate pca_spc's grid")
    parser.add_argument("--grid", action="append", default=[], help="parameter=v1,v2 (JSON)")
    args = parser.parse_args()
    algorithms, overrides = args.algorithms.split(","), parsed_overrides(args.set)
    skab = load_skab(args.data)
    if args.cv:
        cross_validate(skab, rig_runs(), CV_GRID | parsed_grid(args.grid))
        return
    report("SKAB valve1 (fit on 400 rows, all 8 metrics)", skab, algorithms, overrides)
    if args.rig:
        report(f"Simulated rig (seeds {RIG_SEEDS})", rig_runs(), algorithms, overrides)


if __name__ == "__main__":
    main()
