"""Replay harness contracts (no look-ahead, retraining, priming) and event-level metrics."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pytest

from forewarn.errors import InvalidInputError
from forewarn.evaluation.corpus import LabelledSeries
from forewarn.evaluation.events import false_events, file_events, summarise
from forewarn.evaluation.nab import FloatArray, IntArray, file_layout
from forewarn.evaluation.replay import (
    Reading,
    Verdict,
    evaluate_corpus,
    evaluate_replays,
    replay_series,
)

T0 = 1_396_310_400_000
MINUTE = 60_000
N = 1000  # probation = 150 rows


class ZScoreStreamer:
    """Baseline for tests: |z| of a value against the trailing window; anomalous above 4."""

    def __init__(self, history: FloatArray, window: int = 100, limit: float = 4.0) -> None:
        self.recent: deque[float] = deque(history[-window:].tolist(), maxlen=window)
        self.limit = limit

    def update(self, ts: int, value: Reading) -> Verdict:
        """Score against the window, then remember the value."""
        assert isinstance(value, float)
        mean, std = float(np.mean(self.recent)), float(np.std(self.recent)) or 1e-9
        self.recent.append(value)
        z = abs(value - mean) / std
        return Verdict(z, z > self.limit, z > self.limit)


def fit_zscore(ts: IntArray, values: FloatArray) -> ZScoreStreamer:
    """Module-level so a process pool can pickle it."""
    return ZScoreStreamer(values)


@dataclass
class Spy:
    """Records every fit and update, to check what the detector is shown."""

    fits: list[tuple[IntArray, FloatArray]] = field(default_factory=list)
    updates: list[tuple[int, float]] = field(default_factory=list)

    def fit(self, ts: IntArray, values: FloatArray) -> Spy:
        self.fits.append((ts, values))
        return self

    def update(self, ts: int, value: Reading) -> Verdict:
        assert isinstance(value, float)
        self.updates.append((ts, value))
        return Verdict(value, value > 100.0, value > 100.0)


def labelled(seed: int, spikes: tuple[int, ...] = (420, 720)) -> LabelledSeries:
    """A noisy daily-ish wave with one spike per window (windows 40 rows, spike 20 in)."""
    rng = np.random.default_rng(seed)
    ts = T0 + MINUTE * np.arange(N, dtype=np.int64)
    values = np.sin(np.arange(N) / 50.0) + rng.normal(0.0, 0.1, N)
    values[list(spikes)] += 5.0
    windows = tuple((int(ts[s - 20]), int(ts[s + 19])) for s in spikes)
    return LabelledSeries(f"synthetic/s{seed}.csv", "synthetic", ts, values, windows)


def test_update_sees_every_scored_row_once_in_order_after_fit_on_probation() -> None:
    series, spy = labelled(0), Spy()
    result = replay_series(series, spy.fit)
    assert len(spy.fits) == 1 and spy.fits[0][0].tolist() == series.ts_ms[:150].tolist()
    rows = zip(series.ts_ms[150:].tolist(), series.values[150:].tolist(), strict=True)
    assert spy.updates == list(rows)
    assert np.isnan(result.scores[:150]).all() and not result.is_anomaly[:150].any()
    assert result.scores[150:].tolist() == series.values[150:].tolist()
    assert result.is_anomaly.sum() == 0 and result.rows_per_second > 0


def test_fit_gets_copies_so_it_cannot_reach_later_rows() -> None:
    series, spy = labelled(0), Spy()
    replay_series(series, spy.fit, retrain_every_rows=300)
    for ts, values in spy.fits:
        assert not np.shares_memory(ts, series.ts_ms)
        assert not np.shares_memory(values, series.values)


def test_retraining_refits_on_everything_seen_so_far() -> None:
    spy = Spy()
    result = replay_series(labelled(0), spy.fit, retrain_every_rows=100)
    assert [len(ts) for ts, _ in spy.fits] == [150, 250, 350, 450, 550, 650, 750, 850, 950]
    assert result.n_fits == 9 and len(spy.updates) == N - 150


def test_retraining_on_a_trailing_window() -> None:
    series, spy = labelled(0), Spy()
    replay_series(series, spy.fit, retrain_every_rows=400, retrain_window_rows=120)
    assert [len(ts) for ts, _ in spy.fits] == [150, 120, 120]
    assert spy.fits[1][0].tolist() == series.ts_ms[430:550].tolist()


@pytest.mark.parametrize("name", ["retrain_every_rows", "retrain_window_rows"])
def test_bad_retraining_parameters_are_refused(name: str) -> None:
    with pytest.raises(InvalidInputError, match=name):
        replay_series(labelled(0), Spy().fit, **{name: 0})


def test_baseline_finds_the_spikes_and_scores_well() -> None:
    corpus = [labelled(seed) for seed in range(3)]
    evaluation = evaluate_corpus(corpus, fit_zscore)
    standard = evaluation.optimal[0]
    assert standard.profile == "standard" and standard.score > 80.0
    assert standard.threshold is not None and math.isfinite(standard.threshold)
    assert all(r.score <= 100.0 for r in (*evaluation.optimal, *evaluation.shipped))
    assert evaluation.events_shipped.recall == 1.0
    assert evaluation.events_optimal.median_delay_rows == 20.0
    assert evaluation.rows_per_second > 0


def test_two_workers_give_the_same_results_as_one() -> None:
    corpus = [labelled(seed) for seed in range(2)]
    one, two = (evaluate_corpus(corpus, fit_zscore, workers=w) for w in (1, 2))
    for a, b in zip(one.replays, two.replays, strict=True):
        assert np.array_equal(a.scores, b.scores, equal_nan=True)
    assert one.optimal == two.optimal and one.shipped == two.shipped


def test_evaluate_replays_needs_one_replay_per_series() -> None:
    with pytest.raises(InvalidInputError):
        evaluate_replays([labelled(0)], [])


def test_false_events_merge_close_detections_but_not_across_windows() -> None:
    in_window = np.zeros(30, dtype=np.bool_)
    in_window[10:15] = True
    hits = np.zeros(30, dtype=np.bool_)
    hits[[1, 2, 3, 6, 9, 16, 20]] = True
    assert false_events(hits, in_window) == 5
    assert false_events(hits, in_window, merge_gap_rows=3) == 3
    assert false_events(hits, in_window, merge_gap_rows=10) == 2
    with pytest.raises(InvalidInputError):
        false_events(hits, in_window, merge_gap_rows=0)


def test_event_metrics_count_windows_false_events_and_delays() -> None:
    series = labelled(0)
    layout = file_layout(series.ts_ms, series.windows_ms)
    hits = np.zeros(N, dtype=np.bool_)
    hits[[100, 405, 406, 800, 801, 900]] = True  # 100 is probationary: ignored
    events = file_events(series.name, series.ts_ms, layout, hits)
    assert [w.delay_rows for w in events.windows] == [5, None]
    assert events.windows[0].delay_ms == 5 * MINUTE and events.false_events == 2
    metrics = summarise([events])
    assert (metrics.n_windows, metrics.n_detected, metrics.n_false_events) == (2, 1, 2)
    assert metrics.precision == pytest.approx(1 / 3) and metrics.recall == 0.5
    assert metrics.f1 == pytest.approx(2 / 5)
    assert metrics.median_delay_ms == 5 * MINUTE


def test_event_metrics_are_nan_when_undefined() -> None:
    series = labelled(0)
    layout = file_layout(series.ts_ms, series.windows_ms)
    metrics = summarise([file_events(series.name, series.ts_ms, layout, np.zeros(N, bool))])
    assert math.isnan(metrics.precision) and metrics.recall == 0.0 and metrics.f1 == 0.0
    assert math.isnan(metrics.median_delay_rows)
