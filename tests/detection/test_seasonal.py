"""The seasonal profile member of the default detector."""

from __future__ import annotations

import numpy as np

from forewarn.detection.seasonal import SeasonalProfile

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
INTERVAL_MS = 1_800_000  # half-hourly, like NAB's taxi counts
START_MS = 1_704_067_200_000  # a Monday, midnight UTC


def weekly_traffic(weeks: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Half-hourly counts with a daily shape and quiet weekends, plus noise."""
    n = weeks * 7 * DAY_MS // INTERVAL_MS
    ts = START_MS + np.arange(n, dtype=np.int64) * INTERVAL_MS
    hour = (ts % DAY_MS) / HOUR_MS
    weekend = ((ts - START_MS) // DAY_MS) % 7 >= 5
    daily = 100 + 80 * np.sin(np.pi * np.clip(hour - 6, 0, 16) / 16)
    noise = np.random.default_rng(seed).normal(0, 5, n)
    return ts, daily * np.where(weekend, 0.5, 1.0) + noise


def test_stream_scores_equal_history_scores() -> None:
    ts, values = weekly_traffic(6)
    detector = SeasonalProfile().fit(ts[:2000], values[:2000])
    state = detector.prime(ts[:2000], values[:2000])
    rows = zip(ts[2000:].tolist(), values[2000:].tolist(), strict=True)
    streamed = [state.update(t, v).score for t, v in rows]
    np.testing.assert_allclose(streamed, detector.history_scores(ts[2000:], values[2000:]))


def test_a_weekday_that_looks_like_a_weekend_scores_high() -> None:
    ts, values = weekly_traffic(6)
    train = 5 * 7 * DAY_MS // INTERVAL_MS
    holiday = values.copy()
    tuesday = slice(train + 48, train + 96)
    holiday[tuesday] *= 0.5  # a holiday: weekend traffic on a weekday, inside the usual range
    detector = SeasonalProfile().fit(ts[:train], values[:train])
    normal_scores = detector.history_scores(ts[train:], values[train:])
    holiday_scores = detector.history_scores(ts[tuesday], holiday[tuesday])
    assert detector.period_ms_ == 7 * DAY_MS
    assert holiday.min() >= values[:train].min() - 10  # not a range exit
    assert np.median(holiday_scores) > 2 * np.max(normal_scores[48:96])


def test_without_enough_periods_it_scores_zero() -> None:
    ts, values = weekly_traffic(1)
    detector = SeasonalProfile().fit(ts[:96], values[:96])  # two days
    assert detector.period_ms_ == 0
    assert not detector.history_scores(ts, values).any()
    assert detector.prime(ts[:96], values[:96]).update(int(ts[100]), 1e6).score == 0.0
