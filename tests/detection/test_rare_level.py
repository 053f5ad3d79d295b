"""The rare-level member of the default detector: an hour at levels training seldom saw."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from forewarn.detection.ensemble import explaining
from forewarn.detection.level_bins import bin_count, level_costs
from forewarn.detection.rare_level import LEFT_OUT, RareLevel

INTERVAL_MS = 300_000  # five-minute readings, as NAB's machine temperature
START_MS = 1_704_067_200_000
HOUR_ROWS = 12


def machine(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A machine running at 80 ± 4, with a daily swing of ±6."""
    ts = START_MS + np.arange(n, dtype=np.int64) * INTERVAL_MS
    swing = 6 * np.sin(2 * np.pi * np.arange(n) / 288)
    return ts, 80 + swing + np.random.default_rng(seed).normal(0, 4, n)


def test_an_hour_at_a_level_inside_the_range_but_seldom_visited_scores_high() -> None:
    ts, values = machine(3_000)
    values[1_000:1_006] = 40.0  # one brief dip in training: 40 is inside the known range
    detector = RareLevel(metrics=["temperature"]).fit(ts[:2_000], values[:2_000])
    state = detector.prime(ts[:2_000], values[:2_000])
    usual = [
        state.update(int(t), float(v)).score
        for t, v in zip(ts[2_000:2_300], values[2_000:2_300], strict=True)
    ]
    cooling = [state.update(int(ts[2_300 + i]), 45.0).score for i in range(2 * HOUR_ROWS)]
    assert values[:2_000].min() <= 45.0  # not a range exit
    assert cooling[HOUR_ROWS - 1] > 1.5 * max(usual)  # the daily trough is rare-ish too
    assert cooling == sorted(cooling)  # the longer it stays, the stronger the evidence
    summary = state.explain().summary
    assert summary.startswith("temperature has spent the last 1 h at levels as far from usual as")


def test_the_usual_level_costs_nothing_and_the_edges_about_log_n() -> None:
    x = np.random.default_rng(1).normal(0, 1, 10_000)
    low, width, costs = level_costs(x)
    decades = costs / 1e6
    assert len(costs) == bin_count(x) + 2  # one bin below and one above the range
    assert decades.min() == 0.0
    assert decades[0] == decades[-1] == pytest.approx(math.log10((len(x) + 2) / 2), rel=1e-6)
    middle = int((0 - low) / width) + 1
    assert decades[middle] == 0.0


@pytest.mark.parametrize("flat", [25.0, 0.0])
def test_a_flat_training_history_has_one_bin(flat: float) -> None:
    ts = START_MS + np.arange(500, dtype=np.int64) * INTERVAL_MS
    detector = RareLevel().fit(ts, np.full(500, flat))
    state = detector.prime(ts, np.full(500, flat))
    assert state.update(int(ts[-1]) + INTERVAL_MS, flat).score == 0.0
    assert state.update(int(ts[-1]) + 2 * INTERVAL_MS, flat + 1).score > 0.0


def test_too_little_history_scores_nothing_and_says_why() -> None:
    ts, values = machine(2 * HOUR_ROWS - 1)  # less than two horizons of history
    detector = RareLevel(metrics=["temperature"]).fit(ts, values)
    state = detector.prime(ts, values)
    assert state.update(int(ts[-1]) + INTERVAL_MS, 1e6).score == 0.0
    assert state.explain().summary == LEFT_OUT
    assert not detector.history_scores(ts, values).any()


@pytest.mark.parametrize("extreme", [1e308, -1e308, 5e-324])
def test_extreme_readings_score_within_the_unit_interval(extreme: float) -> None:
    ts, values = machine(1_000)
    detector = RareLevel(metrics=["temperature"]).fit(ts[:900], values[:900])
    state = detector.prime(ts[:900], values[:900])
    scores = [state.update(int(ts[900 + i]), extreme).score for i in range(HOUR_ROWS)]
    scores += [state.update(int(ts[912 + i]), 80.0).score for i in range(HOUR_ROWS)]
    assert all(0.0 <= s < 1.0 for s in scores)
    assert scores[-1] < scores[HOUR_ROWS - 1]  # back at the usual level, it calms down


def test_batches_of_several_metrics_equal_readings_one_at_a_time() -> None:
    ts, first = machine(2_000)
    second = np.cumsum(np.random.default_rng(2).normal(0, 1, 2_000))  # a wandering level
    values = np.column_stack([first, second])
    detector = RareLevel(metrics=["a", "b"]).fit(ts[:1_000], values[:1_000])
    one = detector.prime(ts[:1_000], values[:1_000])
    singly = [
        one.update(int(t), v.tolist()).score
        for t, v in zip(ts[1_000:], values[1_000:], strict=True)
    ]
    batched = detector.prime(ts[:1_000], values[:1_000])
    scores: list[float] = []
    for a, b in ((1_000, 1_005), (1_005, 1_600), (1_600, 2_000)):
        scores += batched.score_batch(ts[a:b], values[a:b]).scores.tolist()
    assert scores == singly
    assert batched.explain() == one.explain()


def test_the_rare_level_explains_only_while_the_other_members_are_calm() -> None:
    # rows: robust, seasonal, rare level; columns: three readings
    scores = np.array([[0.1, 0.3, 0.1], [0.2, 0.1, 0.05], [0.9, 0.9, 0.2]])
    context = np.array([False, False, True])
    assert explaining(scores, context, calm=0.25).tolist() == [2, 0, 2]
    assert explaining(scores, np.zeros(3, dtype=bool), calm=0.25).tolist() == [2, 2, 2]


def test_a_training_history_reaching_plus_and_minus_1e308_bins_without_overflow() -> None:
    ts, values = machine(1_000)
    values[10], values[20] = 1e308, -1e308
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning fails the test
        detector = RareLevel().fit(ts[:900], values[:900])
        state = detector.prime(ts[:900], values[:900])
        scores = [
            state.update(int(t), float(v)).score
            for t, v in zip(ts[900:], values[900:], strict=True)
        ]
    assert all(0.0 <= s < 1.0 for s in scores)
