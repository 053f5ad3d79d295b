"""The decision layer on hand-made scores: what opens an event, what continues one, what ends it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from forewarn.detection.base import Deviation, Explanation
from forewarn.detection.events import (
    KIND_SIGMAS,
    MAX_LEVEL,
    SETTLE_ROWS,
    EventTracker,
    EventVerdict,
    event_id,
    kind_of,
    severity,
)

THRESHOLD = 0.5
BAND = (22.0, 29.0)


def why(
    value: float, feature: str = "value", metric: str = "t", baseline: float = 25.0
) -> Explanation:
    """An explanation whose top deviation is `feature` of `metric` at `value`."""
    return Explanation("", (Deviation(feature, value, baseline, 1.0, metric),), (metric,))


def run(
    tracker: EventTracker, steps: Sequence[tuple[float, Explanation, float]]
) -> list[EventVerdict]:
    """Step (score, explanation, value) readings one minute apart."""
    return [
        tracker.step(i * 60_000, score, False, lambda e=e: e, [value])
        for i, (score, e, value) in enumerate(steps)
    ]


def tracker(quiet_rows: int = 3) -> EventTracker:
    return EventTracker(THRESHOLD, bands=[BAND], quiet_rows=quiet_rows)


def test_an_excursion_is_one_event_anomalous_until_it_has_calmed_down() -> None:
    hot = (0.9, why(35.0), 35.0)
    calm = (0.1, why(25.0), 25.0)
    got = run(tracker(), [calm, hot, hot, hot, calm, calm, calm, calm])
    assert [v.is_anomaly for v in got] == [False, True, False, False, False, False, False, False]
    assert [v.anomalous for v in got] == [False, True, True, True, True, True, False, False]
    assert {v.event_start for v in got[1:6]} == {60_000}
    assert got[0].event_start is None and got[-1].event_start is None


def test_a_brief_dip_below_the_threshold_does_not_end_the_excursion() -> None:
    hot, dip = (0.9, why(35.0), 35.0), (0.1, why(26.0), 26.0)
    got = run(tracker(quiet_rows=3), [hot, dip, dip, hot, dip])
    assert [v.is_anomaly for v in got] == [True, False, False, False, False]
    assert all(v.anomalous for v in got)


def test_the_level_moving_the_other_way_opens_a_new_event() -> None:
    got = run(tracker(), [(1.0, why(45.0), 45.0), (1.0, why(-80.0), -80.0)])
    assert [v.is_anomaly for v in got] == [True, True]
    assert got[0].event_start != got[1].event_start


def test_another_metric_or_another_kind_opens_a_new_event() -> None:
    stuck = (0.7, why(12.0, "unchanged", baseline=0.0), 25.0)
    hot = (0.7, why(35.0), 35.0)
    other = (0.7, why(9.0, metric="vibration", baseline=2.0), 35.0)
    assert [v.is_anomaly for v in run(tracker(), [stuck, hot, other])] == [True, True, True]


def test_how_a_level_moves_never_opens_an_event_of_its_own() -> None:
    spike = (1.0, why(45.0), 45.0)
    back = (0.8, why(-20.0, "rate", baseline=0.0), 25.0)  # the return from the spike
    widened = (0.7, why(20.0, "range_1h", baseline=1.0), 25.0)
    assert [v.is_anomaly for v in run(tracker(), [spike, back, widened])] == [True, False, False]


def test_the_echo_of_a_fault_a_day_later_never_opens_an_event_of_its_own() -> None:
    hot = (0.9, why(35.0), 35.0)
    echo = (0.9, why(-12.0, "vs_1d_ago", baseline=0.0), 26.0)  # yesterday's fault, seen today
    assert [v.is_anomaly for v in run(tracker(), [hot, echo])] == [True, False]


def test_a_weak_deviation_does_not_say_what_kind_an_excursion_is() -> None:
    assert kind_of(why(25.0 - KIND_SIGMAS / 2)) is None
    assert kind_of(why(25.0 - 2 * KIND_SIGMAS)) == ("t", "level", -1)
    assert kind_of(why(30.0, "range", baseline=29.0)) == ("t", "level", 1)  # always clear
    assert kind_of(Explanation("nothing")) is None


def test_a_rise_of_severity_opens_a_new_event_once_the_excursion_has_settled() -> None:
    mild, strong = (0.6, why(31.0), 31.0), (0.97, why(31.5), 31.5)
    building = run(tracker(quiet_rows=6), [mild, strong])
    assert [v.is_anomaly for v in building] == [True, False]  # a step builds up its score
    settled = run(tracker(quiet_rows=6), [mild] * (SETTLE_ROWS + 1) + [strong])
    assert [v.is_anomaly for v in settled] == [True] + [False] * SETTLE_ROWS + [True]


def test_a_second_spike_while_the_first_still_lingers_is_a_new_event() -> None:
    spike = (1.0, why(9.0, metric="v", baseline=2.0), 9.0)
    lingering = (0.7, why(8.0, "range_1h", "v", baseline=1.0), 2.0)  # back in its band
    vibration = EventTracker(THRESHOLD, bands=[(0.3, 4.5)], quiet_rows=6)
    got = run(vibration, [spike] + [lingering] * 8 + [spike])
    assert [i for i, v in enumerate(got) if v.is_anomaly] == [0, 9]
    assert all(v.anomalous for v in got)


def test_while_the_value_stays_out_of_its_band_the_same_fault_goes_on() -> None:
    spike = (1.0, why(9.0, metric="v", baseline=2.0), 9.0)
    still_high = (0.7, why(8.0, "range_1h", "v", baseline=1.0), 6.0)  # above its band
    vibration = EventTracker(THRESHOLD, bands=[(0.3, 4.5)], quiet_rows=6)
    got = run(vibration, [spike] + [still_high] * 8 + [spike])
    assert [i for i, v in enumerate(got) if v.is_anomaly] == [0]


def test_a_value_beyond_the_excursion_by_more_than_the_usual_band_is_a_new_event() -> None:
    hot = [(0.8, why(31.0 + i), 31.0 + i) for i in range(3)]  # within a band of 31
    hotter = (0.8, why(45.0), 45.0)  # more than a band (7) beyond 33
    got = run(tracker(), [*hot, hotter])
    assert [v.is_anomaly for v in got] == [True, False, False, True]


def test_warm_up_readings_are_never_reported_and_change_nothing() -> None:
    t = tracker()
    assert t.step(0, 0.99, True, lambda: why(45.0), [45.0]) == EventVerdict(False, False, None)
    assert t.step(1, 0.99, False, lambda: why(45.0), [45.0]).is_anomaly


def test_the_explanation_is_only_asked_for_above_the_threshold() -> None:
    def refuse() -> Explanation:
        raise AssertionError("explained a calm reading")

    t = tracker()
    assert t.step(0, 0.2, False, refuse, [25.0]) == EventVerdict(False, False, None)


@pytest.mark.parametrize(
    ("score", "level"),
    [(0.5, 0), (0.51, 1), (0.7, 2), (0.85, 3), (0.95, MAX_LEVEL), (1.0, MAX_LEVEL)],
)
def test_each_severity_level_doubles_the_odds(score: float, level: int) -> None:
    assert severity(score, THRESHOLD) == level


def test_a_retargeted_threshold_moves_the_release_with_it() -> None:
    t = EventTracker(0.5, release=0.25)
    t.retarget(0.2)
    assert (t.threshold, t.release) == (0.2, 0.2)


def test_step_many_decides_as_step_does() -> None:
    rng = np.random.default_rng(1)
    scores = np.where(rng.random(2_000) < 0.03, 0.9, rng.random(2_000) * 0.45)
    values = (25.0 + 10 * (scores > 0.5)).reshape(-1, 1)
    explanations = [why(float(v)) for v in values[:, 0]]
    ts = np.arange(2_000, dtype=np.int64) * 60_000
    one, many = tracker(), tracker()
    want = [
        one.step(int(t), float(s), False, lambda e=e: e, [float(v)])
        for t, s, e, v in zip(ts, scores, explanations, values[:, 0], strict=True)
    ]
    flags, inside, starts = many.step_many(
        ts, scores, np.zeros(2_000, dtype=bool), explanations.__getitem__, values
    )
    assert flags.tolist() == [v.is_anomaly for v in want]
    assert inside.tolist() == [v.anomalous for v in want]
    assert starts == [v.event_start for v in want]


def test_an_event_id_is_stable_and_scoped() -> None:
    assert event_id("model-a", 5) == event_id("model-a", 5)
    assert len({event_id("model-a", 5), event_id("model-a", 6), event_id("model-b", 5)}) == 3
