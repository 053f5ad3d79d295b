"""PCA T² + Q on a simulated pump rig: each fault kind flagged while it lasts, load changes not.

The rig (`forewarn.sim.rig`) couples flow, pressure, current, vibration and voltage to the
load, and the temperature with a 2-minute lag; the detector trains on a normal hour with
load steps, then scores an hour with five faults (`fault_suite`). The generic checks
(round trip, seeds, batch = one at a time) run for every registered algorithm elsewhere.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

import numpy as np
import pytest

from forewarn.detection.base import decide
from forewarn.detection.batch import BatchScoring
from forewarn.detection.pca_spc import PcaSpc, PcaSpcState
from forewarn.detection.tracked import tracked
from forewarn.errors import InvalidInputError
from forewarn.sim.rig import RIG_METRICS, SUITE_FAULTS, RigRun, fault_suite, rig_run

SEEDS = (1, 3)
TAIL_ROWS = 15  # after a fault ends, the EWMA (span 10) of a reading far beyond the limit decays
# Point-wise recall bars. The sudden faults move a coupled pair far beyond noise at once: 95 %.
# The drift grows linearly from 0: its first rows are inside the noise for any detector: 75 %.
RECALL = {"valve": 0.95, "cavitation": 0.95, "imbalance": 0.95, "drift": 0.75}
# A stuck flow reads what a healthy one would until the load moves: judged from the step on.
STUCK_FROM_ROW = 3_000
EXPLAINED_BY = {"valve": {"flow", "pressure", "current"}, "cavitation": {"vibration", "flow"},
                "imbalance": {"vibration"}, "drift": {"pressure"}, "stuck": {"flow"}}  # fmt: skip


@cache
def detector(seed: int) -> PcaSpc:
    """Fitted on the suite's normal hour."""
    train, _ = fault_suite(seed)
    return PcaSpc(metrics=RIG_METRICS).fit(train.ts_ms, train.values)


def replay(seed: int, run: RigRun) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Per-row decisions on `run` and the metrics each flagged row's explanation ranks."""
    train, _ = fault_suite(seed)
    model = detector(seed)
    state = model.prime(train.ts_ms, train.values)
    flags, named = [], []
    for t, v in zip(run.ts_ms.tolist(), run.values.tolist(), strict=True):
        flags.append(decide(state.update(t, v), model.threshold_))
        named.append(state.explain().metrics if flags[-1] else ())
    return np.array(flags), named


@cache
def suite(seed: int) -> tuple[RigRun, np.ndarray, list[tuple[str, ...]]]:
    """The fault hour, its decisions and explanations."""
    _, test = fault_suite(seed)
    return test, *replay(seed, test)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(RECALL))
def test_each_fault_is_flagged_while_it_lasts(seed: int, kind: str) -> None:
    test, flags, _ = suite(seed)
    assert flags[test.fault == kind].mean() >= RECALL[kind]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_stuck_sensor_is_flagged_once_the_load_moves(seed: int) -> None:
    test, flags, _ = suite(seed)
    stuck = (test.fault == "stuck") & (np.arange(len(flags)) >= STUCK_FROM_ROW)
    assert flags[stuck].mean() >= 0.9


@pytest.mark.parametrize("seed", SEEDS)
def test_normal_rows_stay_quiet(seed: int) -> None:
    test, flags, _ = suite(seed)
    tails = np.zeros(len(flags), dtype=bool)
    for fault in SUITE_FAULTS:
        tails[fault.end : fault.end + TAIL_ROWS] = True
    normal = ~test.labels
    assert flags[normal & ~tails].mean() <= 0.02  # limits at the 99th percentile, smoothed
    assert flags[normal].mean() <= 0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_load_changes_the_training_covered_are_not_flagged(seed: int) -> None:
    run = rig_run(3_600, seed=seed + 100)
    flags, _ = replay(seed, run)
    steps = np.flatnonzero(np.abs(np.diff(run.load)) > 1e-9)
    assert len(steps) > 50  # several ramps of 20 readings
    assert flags[steps].mean() <= 0.02
    assert flags.mean() <= 0.02


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(EXPLAINED_BY))
def test_explanations_name_the_faulty_metric(seed: int, kind: str) -> None:
    test, flags, named = suite(seed)
    firsts = Counter(named[i][0] for i in np.flatnonzero(flags & (test.fault == kind)))
    top, _ = firsts.most_common(1)[0]
    assert top in EXPLAINED_BY[kind]


def test_the_summary_names_the_metrics_and_the_statistic() -> None:
    train, test = fault_suite(1)
    state = detector(1).prime(train.ts_ms, train.values)
    for t, v in zip(test.ts_ms[:451].tolist(), test.values[:451].tolist(), strict=True):
        state.update(t, v)  # 50 readings into the valve fault
    summary = state.explain().summary
    assert "pressure" in summary and "unlike in training (Q " in summary
    assert "× its limit" in summary


def test_batches_give_what_one_reading_at_a_time_gives_on_the_rig() -> None:
    train, test = fault_suite(1)
    model = detector(1)
    one, many = (model.prime(train.ts_ms, train.values) for _ in range(2))
    assert isinstance(many, PcaSpcState) and isinstance(many, BatchScoring)
    ts, values = test.ts_ms.tolist(), test.values.tolist()
    want = [one.update(t, v) for t, v in zip(ts, values, strict=True)]
    got = many.verdict_batch(ts, values, model.threshold_)
    assert got.scores == [w.score for w in want]
    assert got.flags == [decide(w, model.threshold_) for w in want]
    assert all(w.is_anomaly is None and w.anomalous is None for w in want)  # the tracker's


def test_the_model_is_a_few_hundred_bytes_of_numbers() -> None:
    arrays = detector(1).to_arrays()
    assert all(a.dtype == np.float64 for a in arrays.values())
    assert sum(a.nbytes for a in arrays.values()) <= 100_000


def test_one_metric_is_a_chart_on_its_z() -> None:
    rng = np.random.default_rng(0)
    ts = np.arange(2_000, dtype=np.int64) * 1_000
    values = 50 + rng.normal(0, 1, 2_000)
    model = PcaSpc(metrics=["temperature"], smoothing=1, alarm=1.0).fit(ts, values)
    assert model.limits_[1] == np.inf  # no residual space: Q never alarms
    state = model.prime(ts, values)
    assert not decide(state.update(2_000_000, 50.5), model.threshold_)
    assert decide(state.update(2_001_000, 58.0), model.threshold_)
    assert state.explain().summary.startswith("temperature is far from")


def test_a_fresh_state_warms_up_for_the_smoothing_window() -> None:
    train, test = fault_suite(1)
    state = detector(1).prime(train.ts_ms[:0], train.values[:0])
    span = detector(1).smoothing
    readings = zip(test.ts_ms[: 2 * span].tolist(), test.values[: 2 * span].tolist(), strict=True)
    warming = [state.update(t, v).warming_up for t, v in readings]
    assert warming == [True] * (span - 1) + [False] * (span + 1)


def test_bad_readings_and_parameters_are_refused() -> None:
    train, _ = fault_suite(1)
    state = detector(1).prime(train.ts_ms, train.values)
    with pytest.raises(InvalidInputError, match="6 values"):
        state.update(0, [1.0, 2.0])
    with pytest.raises(InvalidInputError, match="finite"):
        state.update(0, [1.0, 2.0, 3.0, 4.0, 5.0, float("nan")])
    for bad in ({"explained_variance": 0.0}, {"quantile": 1.0}, {"smoothing": 0}, {"release": 0.0},
                {"release": 2.5}, {"alarm": 0.0}, {"horizon": -1}):  # fmt: skip
        with pytest.raises(ValueError):
            PcaSpc(metrics=RIG_METRICS, **bad).fit(train.ts_ms, train.values)


def test_the_release_level_is_the_score_at_a_share_of_the_limit() -> None:
    train, _ = fault_suite(1)
    model = PcaSpc(metrics=RIG_METRICS, alarm=1.0, release=0.5).fit(train.ts_ms, train.values)
    assert model.release_ == pytest.approx(1 / 3)  # r / (1 + r) at half the limit
    assert detector(1).threshold_ == 0.5  # opened at `alarm` (2) times the limits ...
    assert detector(1).release_ == pytest.approx(0.4 / 1.4)  # ... closed under 0.8 times
    rebuilt = PcaSpc.from_arrays(model.to_arrays(), params=model.params())
    assert (rebuilt.threshold_, rebuilt.release_) == (model.threshold_, model.release_)


def test_a_lower_release_holds_an_excursion_open_longer() -> None:
    train, test = fault_suite(1)
    held = []
    for release in (2.0, 0.3):  # the alarm (2 x the limits) itself, then far under it
        # without the change statistic, which holds the end of a sudden fault open by itself
        model = PcaSpc(metrics=RIG_METRICS, release=release, horizon=0)
        model = model.fit(train.ts_ms, train.values)
        state = tracked(model, train.ts_ms, train.values)
        readings = zip(test.ts_ms.tolist(), test.values.tolist(), strict=True)
        held.append(sum(bool(state.update(t, v).anomalous) for t, v in readings))
    assert held[1] > held[0]


def two_metrics(shape: str, horizon: int = 10) -> tuple[int | None, str]:
    """The first flagged row and the explanation there, when pressure leaves flow's line by
    3 noise stds: at once at row 100 (`step`) or over rows 0-500 (`ramp`)."""
    rng = np.random.default_rng(0)
    load = np.repeat(rng.uniform(0.5, 1.0, 20), 50)
    values = np.column_stack([30 * load, 1 + 4 * load]) + rng.normal(0, 0.1, (1000, 2))
    ts = np.arange(1000, dtype=np.int64) * 1000
    model = PcaSpc(metrics=["flow", "pressure"], horizon=horizon).fit(ts, values)
    state, noise = model.prime(ts, values), np.random.default_rng(1).normal(0, 0.1, (600, 2))
    for i in range(600):
        share = float(i >= 100) if shape == "step" else min(i / 500, 1.0)
        reading = [30 * load[-1], 1 + 4 * load[-1] + 0.3 * share] + noise[i]
        if decide(state.update(1_000_000 + 1000 * i, reading.tolist()), model.threshold_):
            return i, state.explain().summary
    return None, ""


def test_a_sudden_change_opens_at_once_and_a_slow_one_only_at_the_alarm_line() -> None:
    row, summary = two_metrics("step")
    assert row is not None and 100 <= row < 115  # within the 10-reading horizon
    assert summary.startswith("pressure") and "change" in summary
    late, _ = two_metrics("ramp")
    assert late is not None and late > 300  # the level alone, at 2 × its limits
    level_only, _ = two_metrics("step", horizon=0)
    assert level_only is None or level_only > row


def test_a_model_saved_without_the_change_statistic_still_scores() -> None:
    model = detector(1)
    arrays = {k: v for k, v in model.to_arrays().items() if not k.startswith("change_")}
    rebuilt = PcaSpc.from_arrays(arrays, params=model.params())
    assert np.all(np.isinf(rebuilt.change_limits_))
    train, test = fault_suite(1)
    scores = rebuilt.prime(train.ts_ms, train.values).score_batch(test.ts_ms, test.values)
    assert np.all(np.isfinite(scores.scores))
