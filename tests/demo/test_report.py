"""Fault-vs-detection evaluation on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from forewarn.demo.report import MINUTE_MS, Evaluation, combine, evaluate
from forewarn.sim import InjectedFault

T0 = 1_717_200_000_000  # 2024-06-01 00:00 UTC


def minute(n: int) -> int:
    return T0 + n * MINUTE_MS


def fault(kind: str, first: int, last: int) -> InjectedFault:
    """A fault covering minutes [first, last], both inclusive."""
    return InjectedFault(kind, "temperature", minute(first), minute(last), f"{kind} test")


SPIKE = fault("spike", 10, 11)
DRIFT = fault("drift", 100, 159)


def test_detection_inside_the_window_catches_with_its_delay() -> None:
    result = evaluate([DRIFT], [minute(130), minute(120)], grace_ms=0)
    (outcome,) = result.outcomes
    assert outcome.status == "caught"
    assert outcome.first_detection_ms == minute(120)
    assert outcome.delay_minutes == 20
    assert result.caught == 1 and result.false_alarms == 0 and result.detections == 2


def test_detection_on_the_first_reading_has_no_delay() -> None:
    (outcome,) = evaluate([SPIKE], [minute(10)], grace_ms=0).outcomes
    assert outcome.delay_minutes == 0


def test_window_ends_are_inclusive() -> None:
    (outcome,) = evaluate([SPIKE], [minute(11)], grace_ms=0).outcomes
    assert outcome.status == "caught" and outcome.delay_minutes == 1


def test_no_detection_in_the_window_is_missed() -> None:
    result = evaluate([SPIKE], [minute(9), minute(50)], grace_ms=0)
    (outcome,) = result.outcomes
    assert outcome.status == "missed"
    assert outcome.first_detection_ms is None and outcome.delay_minutes is None
    assert result.caught == 0 and result.false_alarms == 2


def test_grace_period_excuses_late_flags_but_does_not_catch() -> None:
    result = evaluate([SPIKE], [minute(12), minute(21), minute(22)], grace_ms=10 * MINUTE_MS)
    assert result.outcomes[0].status == "missed"
    # minutes 12 and 21 are within 10 min of the window's end (11); 22 is not
    assert result.false_alarms == 1


def test_flags_before_a_window_are_false_alarms() -> None:
    result = evaluate([DRIFT], [minute(99), minute(100)], grace_ms=10 * MINUTE_MS)
    assert result.false_alarms == 1 and result.caught == 1


def test_window_without_scored_readings_is_unobservable() -> None:
    dropout = fault("dropout", 30, 59)
    scored = [minute(m) for m in range(0, 120) if not 30 <= m <= 59]
    result = evaluate([dropout, SPIKE], [minute(10)], grace_ms=0, scored_ts=scored)
    by_kind = {o.fault.kind: o for o in result.outcomes}
    assert by_kind["dropout"].status == "unobservable"
    assert by_kind["dropout"].readings == 0
    assert by_kind["spike"].readings == 2
    assert result.scored == 90


def test_unknown_readings_mean_missed_not_unobservable() -> None:
    (outcome,) = evaluate([SPIKE], [], grace_ms=0).outcomes
    assert outcome.status == "missed" and outcome.readings is None


def test_no_faults_makes_every_detection_a_false_alarm() -> None:
    result = evaluate([], np.array([minute(1), minute(2)], dtype=np.int64), grace_ms=MINUTE_MS)
    assert result.outcomes == () and result.false_alarms == 2 and result.caught == 0


def test_a_detection_shared_by_overlapping_windows_counts_once() -> None:
    result = evaluate([SPIKE, fault("stuck", 11, 20)], [minute(11)], grace_ms=0)
    assert result.caught == 2 and result.detections == 1 and result.false_alarms == 0


def test_combine_sums_series_and_keeps_unknown_scored_unknown() -> None:
    first = evaluate([SPIKE], [minute(10), minute(40)], grace_ms=0, scored_ts=[minute(10)])
    second = evaluate([DRIFT], [], grace_ms=0, scored_ts=[minute(100), minute(101)])
    total = combine([first, second])
    assert total == Evaluation(first.outcomes + second.outcomes, 2, 1, 3)
    assert total.caught == 1
    assert combine([first, evaluate([], [], grace_ms=0)]).scored is None


def test_negative_grace_is_rejected() -> None:
    with pytest.raises(ValueError, match="grace_ms"):
        evaluate([SPIKE], [], grace_ms=-1)
