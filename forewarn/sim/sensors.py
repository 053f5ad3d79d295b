"""Metric profiles and the clean-signal generator for simulated sensors.

A clean reading is the sum of four parts: a daily cycle, a slow bounded random walk
(weather, load), an optional on/off duty-cycle step and truncated Gaussian noise.
Each profile checks at construction that the four parts together fit inside
[low, high], so a clean series never leaves its normal range. Hours of the day are
taken in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# Noise is cut at this many standard deviations; an untruncated Gaussian would leave
# the range now and then, and a clean series must not look faulty.
NOISE_CLIP = 4.0


@dataclass(frozen=True, slots=True)
class MetricProfile:
    """How one metric behaves under normal conditions."""

    name: str
    unit: str
    low: float
    high: float
    resolution: float
    daily_amplitude: float
    peak_hour: float
    noise_std: float
    walk_limit: float = 0.0
    walk_std_per_hour: float = 0.0
    duty_step: float = 0.0
    duty_period_ms: int = HOUR_MS
    duty_fraction: float = 0.5

    def __post_init__(self) -> None:
        envelope = (
            self.daily_amplitude
            + self.walk_limit
            + self.duty_step / 2
            + NOISE_CLIP * self.noise_std
        )
        if envelope > (self.high - self.low) / 2:
            raise ValueError(
                f"profile {self.name!r}: daily_amplitude + walk_limit + duty_step/2 + "
                f"{NOISE_CLIP}*noise_std = {envelope:g} exceeds half the range"
            )
        if self.resolution <= 0 or self.duty_period_ms <= 0:
            raise ValueError(f"profile {self.name!r}: resolution and duty_period_ms must be > 0")

    @property
    def centre(self) -> float:
        """Midpoint of the normal range, the level the signal varies around."""
        return (self.low + self.high) / 2

    @property
    def span(self) -> float:
        """Width of the normal range."""
        return self.high - self.low


TEMPERATURE = MetricProfile(
    name="temperature", unit="°C", low=22.0, high=29.0, resolution=0.01,
    daily_amplitude=2.0, peak_hour=15.0, noise_std=0.12,
    walk_limit=0.6, walk_std_per_hour=0.15,
)  # fmt: skip
HUMIDITY = MetricProfile(
    name="humidity", unit="%", low=46.0, high=72.0, resolution=0.1,
    daily_amplitude=7.0, peak_hour=4.0, noise_std=0.7,
    walk_limit=2.5, walk_std_per_hour=0.6,
)  # fmt: skip
PRESSURE = MetricProfile(
    name="pressure", unit="hPa", low=1008.0, high=1020.0, resolution=0.1,
    daily_amplitude=0.4, peak_hour=10.0, noise_std=0.12,
    walk_limit=4.6, walk_std_per_hour=0.5,
)  # fmt: skip
VIBRATION = MetricProfile(
    name="vibration", unit="mm/s", low=1.5, high=4.5, resolution=0.01,
    daily_amplitude=0.25, peak_hour=11.0, noise_std=0.1,
    walk_limit=0.2, walk_std_per_hour=0.05,
    duty_step=1.1, duty_period_ms=20 * 60_000, duty_fraction=0.6,
)  # fmt: skip
CURRENT = MetricProfile(
    name="current", unit="A", low=8.0, high=14.0, resolution=0.01,
    daily_amplitude=0.6, peak_hour=11.0, noise_std=0.18,
    walk_limit=0.3, walk_std_per_hour=0.08,
    duty_step=2.6, duty_period_ms=15 * 60_000, duty_fraction=0.65,
)  # fmt: skip

PROFILES: tuple[MetricProfile, ...] = (TEMPERATURE, HUMIDITY, PRESSURE, VIBRATION, CURRENT)
ENVIRONMENTAL: tuple[MetricProfile, ...] = (TEMPERATURE, HUMIDITY, PRESSURE)


@dataclass(frozen=True, slots=True)
class SeriesState:
    """What a series carries from one chunk to the next, so a stream has no seams."""

    walk: float
    duty_phase_ms: int


def profile_by_name(name: str) -> MetricProfile:
    """Return the built-in profile called `name`."""
    for profile in PROFILES:
        if profile.name == name:
            return profile
    known = ", ".join(p.name for p in PROFILES)
    raise ValueError(f"unknown metric {name!r}; known: {known}")


def timestamps(start_ms: int, n: int, interval_ms: int) -> IntArray:
    """Return `n` epoch-millisecond timestamps from `start_ms`, `interval_ms` apart."""
    if n < 0 or interval_ms <= 0:
        raise ValueError(
            f"n must be >= 0 and interval_ms > 0, got n={n}, interval_ms={interval_ms}"
        )
    return np.arange(n, dtype=np.int64) * np.int64(interval_ms) + np.int64(start_ms)


def hour_of_day(ts_ms: IntArray) -> FloatArray:
    """Return the UTC hour of the day (0 <= h < 24, fractional) of each timestamp."""
    return np.asarray((ts_ms % DAY_MS) / HOUR_MS, dtype=np.float64)


def daily_cycle(profile: MetricProfile, ts_ms: IntArray) -> FloatArray:
    """Return the noise-free daily component (centre plus cycle) at each timestamp."""
    angle = 2 * np.pi * (hour_of_day(ts_ms) - profile.peak_hour) / 24
    return np.asarray(profile.centre + profile.daily_amplitude * np.cos(angle), dtype=np.float64)


def quantise(values: FloatArray, resolution: float) -> FloatArray:
    """Round values to the sensor's resolution, as a real device reports them."""
    # The second round strips binary artefacts such as 25.130000000000003.
    return np.asarray(np.round(np.round(values / resolution) * resolution, 9), dtype=np.float64)


def initial_state(profile: MetricProfile, rng: np.random.Generator) -> SeriesState:
    """Draw a random starting point for a new series."""
    walk = float(rng.uniform(-profile.walk_limit, profile.walk_limit))
    return SeriesState(walk=walk, duty_phase_ms=int(rng.integers(0, profile.duty_period_ms)))


def generate_chunk(
    profile: MetricProfile, ts_ms: IntArray, rng: np.random.Generator, state: SeriesState
) -> tuple[FloatArray, SeriesState]:
    """Generate clean values at `ts_ms` continuing from `state`; return them and the new state."""
    walk, last = _walk(profile, ts_ms, rng, state.walk)
    noise_std = profile.noise_std
    noise = np.clip(
        rng.normal(0.0, noise_std, ts_ms.size), -NOISE_CLIP * noise_std, NOISE_CLIP * noise_std
    )
    values = daily_cycle(profile, ts_ms) + walk + _duty(profile, ts_ms, state.duty_phase_ms) + noise
    return quantise(values, profile.resolution), SeriesState(last, state.duty_phase_ms)


def generate(
    profile: MetricProfile, start_ms: int, n: int, interval_ms: int, rng: np.random.Generator
) -> FloatArray:
    """Return `n` clean readings of `profile`, every `interval_ms` from `start_ms`."""
    ts = timestamps(start_ms, n, interval_ms)
    values, _ = generate_chunk(profile, ts, rng, initial_state(profile, rng))
    return values


def _walk(
    profile: MetricProfile, ts_ms: IntArray, rng: np.random.Generator, start: float
) -> tuple[FloatArray, float]:
    """Random walk reflected at ±walk_limit; returns the path and its last point."""
    limit = profile.walk_limit
    if limit == 0 or ts_ms.size == 0:
        return np.zeros(ts_ms.size), start
    # Step size scales with the time elapsed so the walk looks the same at any interval.
    gaps_h = np.diff(ts_ms, prepend=ts_ms[0]) / HOUR_MS
    steps = rng.normal(0.0, 1.0, ts_ms.size) * profile.walk_std_per_hour * np.sqrt(gaps_h)
    path = _fold(start + np.cumsum(steps), limit)
    return path, float(path[-1])


def _fold(x: FloatArray, limit: float) -> FloatArray:
    """Reflect `x` into [-limit, limit]; continuous, so the walk never jumps."""
    period = 4 * limit
    m = np.mod(x + limit, period)
    return np.asarray(np.where(m <= 2 * limit, m, period - m) - limit, dtype=np.float64)


def _duty(profile: MetricProfile, ts_ms: IntArray, phase_ms: int) -> FloatArray:
    """On/off step of a machine that runs `duty_fraction` of each period."""
    if profile.duty_step == 0:
        return np.zeros(ts_ms.size)
    position = (ts_ms + phase_ms) % profile.duty_period_ms
    running = position < profile.duty_fraction * profile.duty_period_ms
    return np.where(running, profile.duty_step / 2, -profile.duty_step / 2)
