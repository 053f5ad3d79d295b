"""Point-wise metrics (SKAB's protocol) and the verdicts they are computed on."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forewarn.detection.base import Scored
from forewarn.errors import InvalidInputError
from forewarn.evaluation.corpus import LabelledSeries, scoring_layout
from forewarn.evaluation.detectors import verdict
from forewarn.evaluation.pointwise import PointwiseMetrics, pointwise, pool
from forewarn.evaluation.replay import Verdict

T0 = 1_583_750_000_000


def series(n: int, window: tuple[int, int], train_rows: int | None) -> LabelledSeries:
    """A flat series of n one-second rows with one label window (rows, inclusive)."""
    ts = T0 + 1000 * np.arange(n, dtype=np.int64)
    windows = ((int(ts[window[0]]), int(ts[window[1]])),)
    return LabelledSeries("d/x.csv", "d", ts, np.zeros(n), windows, train_rows=train_rows)


def test_counts_cover_scored_rows_only() -> None:
    layout = scoring_layout(series(20, (12, 15), train_rows=10))
    anomalous = np.zeros(20, dtype=bool)
    anomalous[[3, 11, 13, 14, 18]] = True  # row 3 is training: not counted
    m = pointwise(anomalous, layout)
    assert (m.tp, m.fp, m.fn, m.tn) == (2, 2, 2, 4) and m.rows == 10


def test_formulas() -> None:
    m = PointwiseMetrics(tp=6, fp=2, fn=4, tn=88)
    assert m.precision == pytest.approx(6 / 8)
    assert m.recall == pytest.approx(6 / 10)
    assert m.f1 == pytest.approx(12 / 18)
    assert m.false_alarm_rate == pytest.approx(100 * 2 / 90)
    assert m.missed_alarm_rate == pytest.approx(40.0)


def test_undefined_figures_are_nan() -> None:
    quiet = PointwiseMetrics(tn=10)
    assert math.isnan(quiet.precision) and math.isnan(quiet.recall) and math.isnan(quiet.f1)
    assert quiet.false_alarm_rate == 0.0 and math.isnan(quiet.missed_alarm_rate)


def test_pooling_adds_counts_not_rates() -> None:
    a, b = PointwiseMetrics(1, 0, 0, 9), PointwiseMetrics(0, 10, 1, 0)
    assert pool([a, b]) == PointwiseMetrics(1, 10, 1, 9)
    assert pool([]) == PointwiseMetrics()


def test_wrong_length_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        pointwise(np.zeros(3, dtype=bool), scoring_layout(series(20, (12, 15), 10)))


def test_training_rows_move_the_scorable_windows() -> None:
    inside = series(50, (5, 8), train_rows=None)  # NAB: probation 7 rows
    assert scoring_layout(inside).windows.tolist() == [[5, 8]]
    trained = series(50, (5, 8), train_rows=20)
    layout = scoring_layout(trained)
    assert layout.probation == 20 and layout.windows.tolist() == []
    assert layout.in_window[5:9].all()  # labels stay labels: only scoring moves


@pytest.mark.parametrize(
    ("scored", "expected"),
    [
        (Scored(0.9), Verdict(0.9, True, True, 7)),  # no decision layer: each hit its own event
        (Scored(0.1), Verdict(0.1, False, False, None)),
        (Scored(0.9, warming_up=True), Verdict(0.9, False, False, None)),
        (Scored(0.9, is_anomaly=False), Verdict(0.9, False, False, None)),
        (
            Scored(0.2, is_anomaly=False, anomalous=True, event_start=3),
            Verdict(0.2, False, True, 3),
        ),
        (Scored(0.9, is_anomaly=True, anomalous=True, event_start=7), Verdict(0.9, True, True, 7)),
    ],
)
def test_verdicts_use_the_decision_layer_else_the_threshold(
    scored: Scored, expected: Verdict
) -> None:
    assert verdict(scored, 0.5, ts=7) == expected
