"""Contracts of the sensor simulator: clean ranges, exact fault windows, determinism."""

from __future__ import annotations

from itertools import islice
from typing import Literal

import numpy as np
import pytest

from forewarn.sim import (
    ENVIRONMENTAL,
    FAULT_KINDS,
    HUMIDITY,
    PRESSURE,
    PROFILES,
    TEMPERATURE,
    InjectedFault,
    MetricProfile,
    demo_scenario,
    device_catalogue,
    generate,
    inject,
    profile_by_name,
    stream,
)
from forewarn.sim.faults import max_readings
from forewarn.sim.sensors import DAY_MS, HOUR_MS, FloatArray, IntArray, hour_of_day, timestamps

START_MS = 1_717_200_000_000  # 2024-06-01 00:00 UTC
MINUTE = 60_000
WEEK = 7 * 24 * 60
KINDS = [k.name for k in FAULT_KINDS]


def clean(
    profile: MetricProfile = TEMPERATURE, n: int = 2 * 24 * 60, seed: int = 1
) -> tuple[IntArray, FloatArray]:
    ts = timestamps(START_MS, n, MINUTE)
    return ts, generate(profile, START_MS, n, MINUTE, np.random.default_rng(seed))


def window(ts: IntArray, fault: InjectedFault) -> np.ndarray:
    return (ts >= fault.start_ms) & (ts <= fault.end_ms)


def outside(ts: IntArray, faults: tuple[InjectedFault, ...]) -> np.ndarray:
    keep = np.ones(ts.size, dtype=bool)
    for fault in faults:
        keep &= ~window(ts, fault)
    return keep


def night_start(ts: IntArray) -> int:
    # 03:00 on the second day: at night (for seasonal_spike) and far from both ends.
    return int(np.searchsorted(ts, START_MS + DAY_MS + 3 * HOUR_MS))


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_clean_week_stays_in_range_and_uses_it(profile: MetricProfile, seed: int) -> None:
    values = generate(profile, START_MS, WEEK, MINUTE, np.random.default_rng(seed))
    assert values.dtype == np.float64 and values.shape == (WEEK,)
    assert values.min() >= profile.low and values.max() <= profile.high
    assert values.max() - values.min() > 0.4 * profile.span
    steps = values / profile.resolution
    assert np.allclose(steps, np.round(steps))


def test_daily_cycles_peak_where_expected() -> None:
    ts, temp = clean(TEMPERATURE, WEEK)
    _, hum = clean(HUMIDITY, WEEK)
    hours = hour_of_day(ts)
    afternoon, night = (hours >= 14) & (hours < 16), (hours >= 2) & (hours < 4)
    assert temp[afternoon].mean() > temp[night].mean() + 2
    assert hum[night].mean() > hum[afternoon].mean() + 6


def test_pressure_drifts_slowly_between_days() -> None:
    _, values = clean(PRESSURE, WEEK, seed=4)
    daily_means = values.reshape(7, -1).mean(axis=1)
    assert np.ptp(daily_means) > 1.0
    assert np.abs(np.diff(values)).max() < 1.5


def test_profile_names_are_unique() -> None:
    assert len({p.name for p in PROFILES}) == len(PROFILES)


def test_profile_rejects_envelope_wider_than_range() -> None:
    with pytest.raises(ValueError, match="exceeds half the range"):
        MetricProfile("x", "u", 0.0, 1.0, 0.1, daily_amplitude=0.6, peak_hour=0.0, noise_std=0.0)


def test_generate_is_deterministic_per_seed() -> None:
    a, b, c = (
        generate(TEMPERATURE, START_MS, 500, MINUTE, np.random.default_rng(s)) for s in (7, 7, 8)
    )
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("kind", KINDS)
def test_fault_changes_exactly_its_window(kind: str) -> None:
    ts, values = clean()
    ts_before, values_before = ts.copy(), values.copy()
    new_ts, new_values, fault = inject(
        kind, ts, values, TEMPERATURE, night_start(ts), np.random.default_rng(3)
    )
    assert np.array_equal(ts, ts_before) and np.array_equal(values, values_before)
    assert (fault.kind, fault.metric) == (kind, "temperature") and fault.start_ms <= fault.end_ms
    assert fault.description.startswith(f"{kind} on temperature")
    inside = window(ts, fault)
    if kind == "dropout":
        assert np.array_equal(new_ts, ts[~inside]) and np.array_equal(new_values, values[~inside])
        return
    assert np.array_equal(new_ts, ts)
    assert np.array_equal(new_values[~inside], values[~inside])
    assert not np.array_equal(new_values[inside], values[inside])


@pytest.mark.parametrize("kind", KINDS)
def test_fault_is_deterministic_per_seed(kind: str) -> None:
    ts, values = clean()
    runs = [
        inject(kind, ts, values, TEMPERATURE, night_start(ts), np.random.default_rng(s))
        for s in (5, 5)
    ]
    assert runs[0][2] == runs[1][2] and np.array_equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("direction", [1, -1])
def test_spike_values_leave_the_range(direction: Literal[1, -1]) -> None:
    ts, values = clean()
    _, new, fault = inject(
        "spike", ts, values, TEMPERATURE, 100, np.random.default_rng(0), direction=direction
    )
    spiked = new[window(ts, fault)]
    assert 1 <= spiked.size <= 3
    assert np.all((spiked > TEMPERATURE.high) if direction > 0 else (spiked < TEMPERATURE.low))
    assert np.all(np.abs(spiked - TEMPERATURE.centre) >= TEMPERATURE.span * (0.5 + 0.35) - 1e-9)


def test_stuck_holds_the_last_good_value() -> None:
    ts, values = clean(HUMIDITY)
    _, new, fault = inject("stuck", ts, values, HUMIDITY, 200, np.random.default_rng(0))
    inside = window(ts, fault)
    assert np.all(new[inside] == values[199])
    assert HOUR_MS <= fault.end_ms - fault.start_ms + MINUTE <= 3 * HOUR_MS


def test_dropout_removes_30_to_90_minutes() -> None:
    ts, values = clean(PRESSURE)
    new_ts, new_values, fault = inject(
        "dropout", ts, values, PRESSURE, 300, np.random.default_rng(0)
    )
    removed = ts.size - new_ts.size
    assert new_ts.size == new_values.size and 30 <= removed <= 90
    assert removed == np.count_nonzero(window(ts, fault))


def test_drift_starts_normal_and_ends_above_high() -> None:
    ts, values = clean()
    _, new, fault = inject("drift", ts, values, TEMPERATURE, 400, np.random.default_rng(0))
    inside = np.flatnonzero(window(ts, fault))
    assert abs(new[inside[0]] - values[inside[0]]) < 0.05 * TEMPERATURE.span
    assert new[inside[-1]] > TEMPERATURE.high + 0.2 * TEMPERATURE.span - 0.01
    assert 2 * HOUR_MS <= fault.end_ms - fault.start_ms + MINUTE <= 4 * HOUR_MS


def test_seasonal_spike_is_a_daytime_value_at_night() -> None:
    ts, values = clean()
    start = night_start(ts)
    _, new, fault = inject(
        "seasonal_spike", ts, values, TEMPERATURE, start, np.random.default_rng(0)
    )
    inside = window(ts, fault)
    assert np.all(hour_of_day(ts[inside]) < 6)
    assert np.all((new[inside] >= TEMPERATURE.low) & (new[inside] <= TEMPERATURE.high))
    assert np.all(new[inside] - values[inside] > 2.0)
    with pytest.raises(ValueError, match="at night"):
        inject("seasonal_spike", ts, values, TEMPERATURE, start + 12 * 60, np.random.default_rng(0))


def test_variance_change_and_level_shift_sizes() -> None:
    ts, values = clean()
    _, noisy, fault = inject(
        "variance_change", ts, values, TEMPERATURE, 500, np.random.default_rng(0)
    )
    inside = window(ts, fault)
    assert np.std(noisy[inside] - values[inside]) > 3 * TEMPERATURE.noise_std
    _, shifted, fault = inject(
        "level_shift", ts, values, TEMPERATURE, 500, np.random.default_rng(0)
    )
    offsets = (shifted - values)[window(ts, fault)]
    assert np.ptp(offsets) < 0.02 and abs(offsets[0]) >= 0.25 * TEMPERATURE.span - 0.01


def test_inject_rejects_bad_arguments() -> None:
    ts, values = clean()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown fault kind"):
        inject("meltdown", ts, values, TEMPERATURE, 0, rng)
    with pytest.raises(ValueError, match="overruns"):
        inject("drift", ts, values, TEMPERATURE, ts.size - 10, rng)
    with pytest.raises(ValueError, match="start_index"):
        inject("spike", ts, values, TEMPERATURE, ts.size, rng)


def test_demo_scenario_shape_and_labels() -> None:
    end_ms = START_MS + 2 * DAY_MS
    series = demo_scenario(end_ms=end_ms, seed=3)
    assert len(series) == 9
    assert {(s.device_key, s.metric) for s in series} == {
        (f"sensor-0{d}", p.name) for d in (1, 2, 3) for p in ENVIRONMENTAL
    }
    faults = [f for s in series for f in s.faults]
    assert {f.kind for f in faults} >= {"spike", "drift", "stuck", "dropout"}
    assert all(end_ms - DAY_MS <= f.start_ms <= f.end_ms <= end_ms for f in faults)
    assert all(s.ts_ms[-1] == end_ms and s.ts_ms.size == s.values.size for s in series)
    assert not series[0].values.flags.writeable


def test_demo_scenario_first_day_clean_and_faults_confined() -> None:
    end_ms = START_MS + 2 * DAY_MS
    faulty = demo_scenario(end_ms=end_ms, seed=3)
    reference = demo_scenario(end_ms=end_ms, seed=3, with_faults=False)
    for f, c in zip(faulty, reference, strict=True):
        profile = profile_by_name(c.metric)
        assert not c.faults and profile.low <= c.values.min() <= c.values.max() <= profile.high
        first_day = np.count_nonzero(c.ts_ms <= end_ms - DAY_MS)
        assert np.array_equal(f.values[:first_day], c.values[:first_day])
        keep_f, keep_c = outside(f.ts_ms, f.faults), outside(c.ts_ms, f.faults)
        assert np.array_equal(f.ts_ms[keep_f], c.ts_ms[keep_c])
        assert np.array_equal(f.values[keep_f], c.values[keep_c])


def test_demo_scenario_is_deterministic_per_seed() -> None:
    a, b, c = (demo_scenario(end_ms=START_MS, seed=s) for s in (1, 1, 2))
    assert all(
        np.array_equal(x.values, y.values) and x.faults == y.faults
        for x, y in zip(a, b, strict=True)
    )
    assert not all(np.array_equal(x.values, y.values) for x, y in zip(a, c, strict=True))
    with pytest.raises(ValueError, match="days > 1"):
        demo_scenario(end_ms=START_MS, days=1)


def test_device_catalogue_lists_the_three_demo_devices() -> None:
    devices = device_catalogue()
    assert [d["key"] for d in devices] == ["sensor-01", "sensor-02", "sensor-03"]
    assert [d["name"] for d in devices] == [f"Temperature Sensor 0{i}" for i in (1, 2, 3)]
    assert len({str(d["location"]) for d in devices}) == 3


def test_stream_batches_are_ordered_in_range_and_deterministic() -> None:
    take = 2 * 24 * 60 * 2  # two days for two devices
    runs = [
        list(islice(stream(PROFILES, 2, START_MS, MINUTE, np.random.default_rng(9), 0.0), take))
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    for device in (0, 1):
        ts = [t for d, t, _ in runs[0] if d == device]
        assert ts == list(range(START_MS, START_MS + 2 * DAY_MS, MINUTE))
    for _, _, batch in runs[0]:
        assert batch.keys() == {p.name for p in PROFILES}
        assert all(p.low <= batch[p.name] <= p.high for p in PROFILES)


def test_stream_reports_faults_through_on_fault() -> None:
    seen: list[tuple[int, InjectedFault]] = []
    batches = stream(
        ENVIRONMENTAL,
        3,
        START_MS,
        MINUTE,
        np.random.default_rng(2),
        1.0,
        on_fault=lambda d, f: seen.append((d, f)),
    )
    first = next(batches)
    assert len(seen) == 9 and {d for d, _ in seen} == {0, 1, 2}
    assert all(START_MS <= f.start_ms <= f.end_ms < START_MS + DAY_MS for _, f in seen)
    assert first[1] == START_MS
    with pytest.raises(ValueError, match="fault_rate"):
        stream(ENVIRONMENTAL, 1, START_MS, MINUTE, np.random.default_rng(0), 2.0)


def test_max_readings_matches_the_table() -> None:
    assert max_readings("drift", MINUTE) == 240 and max_readings("spike", MINUTE) == 3
