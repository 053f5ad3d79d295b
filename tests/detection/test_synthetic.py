"""The default detector against the replaced point-wise forest, fault kind by fault kind.

Metric: event-level F1 of each detector's shipped decisions (a fault window is found when
any reading in it, or in the 30 minutes after it, is reported; every separate burst of
reports outside the windows is one false event). Series come from forewarn.sim with seeds
that no tuning ever looked at; the default must score a strictly higher F1. Also checks
that the streaming features equal the batch features the models are fitted on.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np
import pytest

from forewarn.detection.base import decide
from forewarn.detection.feature_state import FeatureRows
from forewarn.detection.features import FeatureLayout, batch_features, std_floors
from forewarn.detection.registry import DEFAULT_ALGORITHM, algorithm
from forewarn.detection.tracked import tracked
from forewarn.evaluation.events import file_events, summarise
from forewarn.evaluation.nab import file_layout
from forewarn.sim import TEMPERATURE, generate, inject

INTERVAL_MS = 5 * 60_000
DAY_ROWS = 288
TRAIN_ROWS, N_ROWS = 4 * DAY_ROWS, 7 * DAY_ROWS
START_MS = 1_704_067_200_000  # midnight UTC, so row % DAY_ROWS is the time of day
SLACK_MS = 30 * 60_000
SEEDS = (11, 12)
# Fault starts (rows): mid-morning of day 5 and the early night of day 6 (seasonal spikes
# must start at night).
STARTS = {"seasonal_spike": (4 * DAY_ROWS + 30, 5 * DAY_ROWS + 40)}
DEFAULT_STARTS = (4 * DAY_ROWS + 120, 5 * DAY_ROWS + 150)
KINDS = ("spike", "level_shift", "drift", "variance_change", "stuck", "seasonal_spike")


@cache
def faulty_series(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """A week of 5-minute temperature readings with two faults of one kind after day 4."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    ts = START_MS + np.arange(N_ROWS, dtype=np.int64) * INTERVAL_MS
    values = generate(TEMPERATURE, START_MS, N_ROWS, INTERVAL_MS, rng)
    windows = []
    for start in sorted(STARTS.get(kind, DEFAULT_STARTS), reverse=True):
        ts, values, fault = inject(kind, ts, values, TEMPERATURE, start, rng)
        windows.append((fault.start_ms, fault.end_ms + SLACK_MS))
    return ts, values, sorted(windows)


def event_f1(name: str, kind: str, seed: int) -> tuple[float, int, int]:
    """(F1, windows found, false events) of one algorithm's shipped decisions."""
    ts, values, windows = faulty_series(kind, seed)
    detector = algorithm(name).create(metrics=["temperature"])
    detector.fit(ts[:TRAIN_ROWS], values[:TRAIN_ROWS])
    state = tracked(detector, ts[:TRAIN_ROWS], values[:TRAIN_ROWS])
    decisions = np.zeros(len(ts), dtype=bool)
    for i in range(TRAIN_ROWS, len(ts)):
        decisions[i] = decide(state.update(int(ts[i]), float(values[i])), detector.threshold_)
    layout = replace(file_layout(ts, windows), probation=TRAIN_ROWS)
    metrics = summarise([file_events(kind, ts, layout, decisions)])
    return metrics.f1, metrics.n_detected, metrics.n_false_events


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", KINDS)
def test_default_beats_pointwise_forest(kind: str, seed: int) -> None:
    default = event_f1(DEFAULT_ALGORITHM, kind, seed)
    pointwise = event_f1("isolation_forest", kind, seed)
    assert default[0] > pointwise[0], f"default {default} vs point-wise {pointwise}"


@pytest.mark.slow
def test_default_finds_most_faults_with_few_false_alarms() -> None:
    results = [event_f1(DEFAULT_ALGORITHM, kind, seed) for kind in KINDS for seed in SEEDS]
    found = sum(r[1] for r in results)
    false_events = sum(r[2] for r in results)
    assert found >= 0.75 * 2 * len(results), results
    assert false_events <= len(results), results


@pytest.mark.parametrize("interval_ms", [60_000, INTERVAL_MS, 3_600_000])
def test_streaming_features_equal_batch_features(interval_ms: int) -> None:
    rng = np.random.default_rng(3)
    n = 4 * 86_400_000 // interval_ms + 50
    ts = START_MS + np.arange(n, dtype=np.int64) * interval_ms
    ts[n // 2 :] += 7 * interval_ms  # a gap
    values = np.column_stack([rng.normal(20, 1, n).round(1), rng.normal(50, 5, n)])
    values[100:140, 0] = values[99, 0]  # a stuck stretch
    layout = FeatureLayout.learn(ts)
    floors = std_floors(values)
    state = FeatureRows(layout, floors)
    rows = [state.push(int(t), list(v)) for t, v in zip(ts, values, strict=True)]
    np.testing.assert_allclose(rows, batch_features(layout, ts, values, floors), atol=1e-8)
