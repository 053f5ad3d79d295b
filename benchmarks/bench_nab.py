"""Benchmark every registered detector on NAB and on a held-out synthetic fault suite.

Run: .venv/bin/python benchmarks/bench_nab.py [NAB_DIR] [--algorithms a,b] [--workers 2]

Both replays run as the product would: learn on the first rows, then score row by row
without look-ahead, refitting every RETRAIN_EVERY_ROWS on the last RETRAIN_WINDOW_ROWS
(forewarn.detection.schedule). NAB is scored at the corpus-optimal threshold of the streamed
scores (for the default: excursion-calibrated), at the optimal threshold of the decision
layer (`EventGate`, swept over score quantiles), and at each detector's own shipped
decisions. The synthetic suite (forewarn.sim, never used for tuning) is scored with
event-level precision, recall and F1 of the shipped decisions. Exits 0 whatever the
figures: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from forewarn.detection.decision import EventGate
from forewarn.detection.registry import ALGORITHMS, DEFAULT_ALGORITHM
from forewarn.detection.schedule import RETRAIN_EVERY_ROWS, RETRAIN_WINDOW_ROWS
from forewarn.evaluation import (
    CorpusEvaluation,
    EventMetrics,
    FileEvents,
    LabelledSeries,
    evaluate_corpus,
    file_events,
    file_layout,
    load_corpus,
    score_decisions,
    summarise,
)
from forewarn.evaluation.detectors import fit_function
from forewarn.sim import FAULT_KINDS, PROFILES, generate, inject
from forewarn.sim.faults import max_readings

REPO = Path(__file__).resolve().parents[1]
NAB_DIR = REPO.parent / "shared" / "data" / "nab"
DAY_MS, HOUR_MS, MINUTE_MS = 86_400_000, 3_600_000, 60_000
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
SUITE_SEEDS = (101, 102, 103)  # held out: never used while tuning
SUITE_INTERVALS_MS = (MINUTE_MS, 5 * MINUTE_MS)
SUITE_DAYS, TRAIN_DAYS, FAULTS_PER_SERIES = 8, 3, 3
SLACK_MS = 30 * MINUTE_MS  # a detection this soon after a fault still counts (e.g. dropout)


def gate_optimal(evaluation: CorpusEvaluation, corpus: list[LabelledSeries]) -> float:
    """NAB standard score of the event gate at its best threshold (score quantiles)."""
    layouts = [file_layout(s.ts_ms, s.windows_ms) for s in corpus]
    scores = [r.scores for r in evaluation.replays]
    pooled = np.concatenate([s[np.isfinite(s)] for s in scores])
    best = -math.inf
    for t in np.unique(np.quantile(pooled, np.linspace(0.9, 0.99999, 80))):
        decisions = [_gated(s, float(t)) for s in scores]
        best = max(best, score_decisions(layouts, decisions)[0].score)
    return best


def _gated(scores: np.ndarray, threshold: float) -> np.ndarray:
    gate = EventGate(threshold)
    return np.array([math.isfinite(s) and gate.decide(s) for s in scores.tolist()])


@dataclass(frozen=True)
class SuiteSeries:
    """One simulated metric with labelled faults, the first `train_rows` fault-free."""

    name: str
    kind: str
    ts_ms: np.ndarray
    values: np.ndarray
    windows_ms: tuple[tuple[int, int], ...]
    train_rows: int


def _fault_starts(
    kind: str, n: int, train: int, interval: int, rng: np.random.Generator
) -> list[int]:
    """Non-overlapping fault starts after training, latest first; night-time if seasonal."""
    room = max_readings(kind, interval) + round(6 * HOUR_MS / interval)
    slots = (n - train - room) // FAULTS_PER_SERIES
    starts = [
        train + k * slots + int(rng.integers(0, max(slots - room, 1)))
        for k in range(FAULTS_PER_SERIES)
    ]
    if kind == "seasonal_spike":  # move each start to 00-05 h UTC of its day
        day = DAY_MS // interval
        starts = [s - s % day + int(rng.uniform(0.5, 5) * HOUR_MS / interval) for s in starts]
    return sorted(starts, reverse=True)


def suite_series(seed: int, interval: int, kind: str, profile_index: int) -> SuiteSeries:
    """A clean series of `SUITE_DAYS` with `FAULTS_PER_SERIES` faults of one kind."""
    profile = PROFILES[(profile_index + seed) % len(PROFILES)]
    rng = np.random.default_rng([seed, interval, profile_index])
    n, train = SUITE_DAYS * DAY_MS // interval, TRAIN_DAYS * DAY_MS // interval
    ts = START_MS + np.arange(n, dtype=np.int64) * interval
    values = generate(profile, START_MS, n, interval, rng)
    windows = []
    for start in _fault_starts(kind, n, train, interval, rng):
        ts, values, fault = inject(kind, ts, values, profile, start, rng)
        windows.append((fault.start_ms, fault.end_ms + SLACK_MS))
    name = f"{kind}/{profile.name}-{interval // MINUTE_MS}min-{seed}"
    return SuiteSeries(name, kind, ts, values, tuple(sorted(windows)), train)


def suite() -> list[SuiteSeries]:
    """Every seed x interval x fault kind."""
    return [
        suite_series(seed, interval, kind.name, k)
        for seed in SUITE_SEEDS
        for interval in SUITE_INTERVALS_MS
        for k, kind in enumerate(FAULT_KINDS)
    ]


def replay_suite_series(series: SuiteSeries, algorithm: str) -> np.ndarray:
    """Shipped decisions after the training rows, refitting on the product's schedule."""
    fit, n = fit_function(algorithm), len(series.ts_ms)
    decisions = np.zeros(n, dtype=bool)
    for a in range(series.train_rows, n, RETRAIN_EVERY_ROWS):
        lo = 0 if a == series.train_rows else max(0, a - RETRAIN_WINDOW_ROWS)
        streamer = fit(series.ts_ms[lo:a].copy(), series.values[lo:a].copy())
        stop = min(a + RETRAIN_EVERY_ROWS, n)
        rows = zip(series.ts_ms[a:stop].tolist(), series.values[a:stop].tolist(), strict=True)
        decisions[a:stop] = [streamer.update(t, v).is_anomaly for t, v in rows]
    return decisions


def suite_events(
    algorithm: str, series: list[SuiteSeries], workers: int
) -> dict[str, EventMetrics]:
    """Event metrics of the shipped decisions, overall ("all") and per fault kind."""
    run = partial(_suite_one, algorithm=algorithm)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        files = list(pool.map(run, series))
    kinds = sorted({s.kind for s in series})
    by_kind = {
        k: summarise([f for f, s in zip(files, series, strict=True) if s.kind == k]) for k in kinds
    }
    return {"all": summarise(files), **by_kind}


def _suite_one(series: SuiteSeries, algorithm: str) -> FileEvents:
    decisions = replay_suite_series(series, algorithm)
    layout = replace(file_layout(series.ts_ms, series.windows_ms), probation=series.train_rows)
    return file_events(series.name, series.ts_ms, layout, decisions)


def _fmt(value: float, digits: int = 1) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.{digits}f}"
    )


def nab_row(name: str, evaluation: CorpusEvaluation, gate_best: float) -> list[str]:
    """One algorithm's NAB figures as table cells."""
    rows = sum(len(r.scores) - r.probation for r in evaluation.replays)
    seconds = sum(r.fit_seconds + r.update_seconds for r in evaluation.replays)
    e = evaluation.events_shipped
    return [
        name + (" *" if name == DEFAULT_ALGORITHM else ""),
        *(_fmt(p.score) for p in evaluation.optimal),
        _fmt(gate_best),
        *(_fmt(p.score) for p in evaluation.shipped),
        _fmt(e.precision, 2), _fmt(e.recall, 2), _fmt(e.f1, 2),
        _fmt(e.median_delay_rows, 0), f"{rows / seconds:,.0f}",
    ]  # fmt: skip


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A plain aligned text table."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    for row in [header, *rows]:
        print(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def run_nab(nab: Path, names: list[str], workers: int) -> None:
    """Replay NAB with every algorithm and print its table."""
    corpus = load_corpus(nab / "data", nab / "labels" / "combined_windows.json")
    rows = []
    for name in names:
        evaluation = evaluate_corpus(
            corpus, fit_function(name), retrain_every_rows=RETRAIN_EVERY_ROWS,
            retrain_window_rows=RETRAIN_WINDOW_ROWS, workers=workers,
        )  # fmt: skip
        rows.append(nab_row(name, evaluation, gate_optimal(evaluation, corpus)))
        print(f"  NAB done: {name}", flush=True)
    header = ["algorithm", "opt std", "opt lowFP", "opt lowFN", "gate-opt std", "ship std",
              "ship lowFP", "ship lowFN", "P", "R", "F1", "delay", "rows/s"]  # fmt: skip
    print_table(f"NAB, {len(corpus)} files (* = default)", header, rows)


def run_synthetic(names: list[str], workers: int) -> None:
    """Replay the held-out suite with every algorithm and print its table."""
    series = suite()
    kinds = sorted({s.kind for s in series})
    rows = []
    for name in names:
        metrics = suite_events(name, series, workers)
        overall = metrics["all"]
        cells = [_fmt(v, 2) for v in (overall.precision, overall.recall, overall.f1)]
        per_kind = [f"{metrics[k].n_detected}/{metrics[k].n_windows}" for k in kinds]
        rows.append([name, *cells, str(overall.n_false_events), *per_kind])
    title = f"Synthetic held-out suite, {len(series)} series (shipped decisions)"
    print_table(title, ["algorithm", "P", "R", "F1", "false ev", *kinds], rows)


def main() -> None:
    """Run the benchmark and print both tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nab", nargs="?", type=Path, default=NAB_DIR)
    parser.add_argument("--algorithms", default=",".join(spec.name for spec in ALGORITHMS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-nab", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    names = [n.strip() for n in args.algorithms.split(",") if n.strip()]
    print(f"retraining: every {RETRAIN_EVERY_ROWS} rows on the last {RETRAIN_WINDOW_ROWS}")
    if not args.skip_nab:
        run_nab(args.nab, names, args.workers)
    if not args.skip_synthetic:
        run_synthetic(names, args.workers)


if __name__ == "__main__":
    main()
