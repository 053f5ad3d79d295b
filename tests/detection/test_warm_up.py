"""Bounded warm-up: a model scores from the first reading after training, leaving out the
features whose horizon its history does not cover, and says so; at 1 Hz and at one reading
an hour alike."""

from __future__ import annotations

import numpy as np
import pytest

from forewarn.detection.features import FEATURES, FeatureLayout
from forewarn.detection.registry import DEFAULT_ALGORITHM, build_detector
from forewarn.detection.tracked import TrackedState, tracked

SECOND_MS, HOUR_MS = 1_000, 3_600_000
START_MS = 1_704_067_200_000


def series(
    n: int, step_ms: int, mean: float, sd: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """`n` Gaussian readings `step_ms` apart."""
    ts = START_MS + step_ms * np.arange(n, dtype=np.int64)
    return ts, np.random.default_rng(seed).normal(mean, sd, n)


def default_state(ts: np.ndarray, values: np.ndarray, primed: int | None = None) -> TrackedState:
    """The default detector fitted on the history, primed on its last `primed` readings."""
    detector = build_detector(DEFAULT_ALGORITHM, metrics=["pressure"]).detector
    detector.fit(ts, values)
    keep = slice(len(ts) - (len(ts) if primed is None else primed), len(ts))
    return tracked(detector, ts[keep], values[keep])


def names(layout: FeatureLayout) -> set[str]:
    return {s.name for s in layout.specs}


def test_a_short_history_leaves_out_the_windows_it_cannot_cover() -> None:
    ts, _ = series(400, SECOND_MS, 5.0, 0.1, 1)
    layout = FeatureLayout.learn(ts)
    assert {"value", "rate", "unchanged", "gap"} <= names(layout)
    assert not {"z_1h", "range_1h", "z_1d"} & names(layout)  # 3,600 and 4,096 readings
    long_ts, _ = series(9_000, SECOND_MS, 5.0, 0.1, 1)
    assert {"z_1h", "range_1h", "z_1d"} <= names(FeatureLayout.learn(long_ts))


@pytest.mark.parametrize(("step_ms", "n"), [(SECOND_MS, 400), (HOUR_MS, 30 * 24)])
def test_a_level_shift_right_after_training_is_reported(step_ms: int, n: int) -> None:
    ts, values = series(n + 330, step_ms, 5.0, 0.1, 2)
    values[n + 300 :] += 0.8  # +8 sigma
    state = default_state(ts[:n], values[:n])
    got = [state.update(int(t), float(v)) for t, v in zip(ts[n:], values[n:], strict=True)]
    assert not any(s.warming_up for s in got)
    # Reported within five readings of the shift: the stream was judged all along. (The
    # normal readings before it may raise a false event or two: a range learned on a few
    # hundred noisy readings still has new extremes to see; docs/detection.md, "Warm-up".)
    assert any(s.is_anomaly for s in got[300:305])
    assert sum(s.is_anomaly for s in got[:300]) <= 2


def test_a_fresh_stream_is_scored_from_its_first_reading_and_says_what_it_left_out() -> None:
    ts, values = series(3 * 24 * 12, 5 * 60_000, 25.0, 0.3, 3)  # three days, 5-minute
    state = default_state(ts, values, primed=0)  # e.g. no stored history at all
    hot = [state.update(int(ts[-1]) + k * 300_000, 40.0) for k in (1, 2, 3)]
    assert not any(s.warming_up for s in hot) and any(s.is_anomaly for s in hot)
    summary = state.explain().summary
    assert "left out: too little history yet" in summary
    assert "z_1d" in summary and "z_1h" in summary


def test_a_model_with_every_window_covered_mentions_nothing_left_out() -> None:
    ts, values = series(3 * 24 * 12, 5 * 60_000, 25.0, 0.3, 4)
    state = default_state(ts, values)
    state.update(int(ts[-1]) + 300_000, 40.0)
    assert "left out" not in state.explain().summary


def test_every_feature_has_a_horizon_a_day_of_one_hertz_readings_covers() -> None:
    # The longest window is capped (MAX_ROWS), so a 1 Hz sensor gets every feature within
    # hours, not after a week of readings.
    ts, _ = series(2 * 4_096, SECOND_MS, 5.0, 0.1, 5)
    windowed = {s.name for s in FEATURES if s.kind in ("zscore", "range")}
    assert windowed <= names(FeatureLayout.learn(ts))
