"""Labelled fault injection into simulated series.

Window convention: a fault covers the consecutive readings with indices
``[start_index, start_index + k)``. `InjectedFault.start_ms` is the timestamp of the
first of them and `end_ms` that of the last, both inclusive: a reading is faulty iff
``start_ms <= ts <= end_ms``. Every kind changes only readings inside its window and
leaves all others bit-identical, so detection can be scored from the labels alone.
That is why `drift` ends at its window: the sensor is assumed to be reset afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from forewarn.sim.sensors import (
    DAY_MS,
    HOUR_MS,
    FloatArray,
    IntArray,
    MetricProfile,
    daily_cycle,
    hour_of_day,
    quantise,
)

MINUTE_MS = 60_000
NIGHT_HOURS = (0.0, 6.0)
NOON_HOUR = 12.0


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """Label of one injected fault; `start_ms` and `end_ms` are both inclusive."""

    kind: str
    metric: str
    start_ms: int
    end_ms: int
    description: str


@dataclass(frozen=True, slots=True)
class _Window:
    """Everything a fault needs; `values` is a private copy the fault may edit."""

    ts: IntArray
    values: FloatArray
    profile: MetricProfile
    start: int
    stop: int
    rng: np.random.Generator
    direction: int
    magnitude: float | None

    @property
    def size(self) -> int:
        return self.stop - self.start

    def draw(self, low: float, high: float) -> float:
        """The caller's magnitude if given, otherwise a uniform draw in [low, high]."""
        return self.magnitude if self.magnitude is not None else float(self.rng.uniform(low, high))


Applied = tuple[IntArray, FloatArray, str]


def _spike(w: _Window) -> Applied:
    p = w.profile
    fractions = (
        np.full(w.size, w.magnitude)
        if w.magnitude is not None
        else w.rng.uniform(0.35, 0.60, w.size)
    )
    bound = p.high if w.direction > 0 else p.low
    w.values[w.start : w.stop] = quantise(bound + w.direction * fractions * p.span, p.resolution)
    side = "above high" if w.direction > 0 else "below low"
    return w.ts, w.values, f"{w.size} reading(s) up to {fractions.max():.0%} of range {side}"


def _drift(w: _Window) -> Applied:
    p = w.profile
    bound = p.high if w.direction > 0 else p.low
    target = bound + w.direction * w.draw(0.2, 0.5) * p.span
    # Ramp from 1/k to 1 so every reading in the window moves and the last hits the target.
    ramp = np.arange(1, w.size + 1) / w.size
    offset = (target - w.values[w.stop - 1]) * ramp
    w.values[w.start : w.stop] = quantise(w.values[w.start : w.stop] + offset, p.resolution)
    return w.ts, w.values, f"ramp over {w.size} readings to {target:.2f} {p.unit}"


def _stuck(w: _Window) -> Applied:
    frozen = w.values[max(w.start - 1, 0)]
    w.values[w.start : w.stop] = frozen
    return w.ts, w.values, f"frozen at {frozen:g} {w.profile.unit} for {w.size} readings"


def _dropout(w: _Window) -> Applied:
    keep = np.r_[0 : w.start, w.stop : w.ts.size]
    return w.ts[keep], w.values[keep], f"{w.size} readings missing"


def _level_shift(w: _Window) -> Applied:
    p = w.profile
    offset = w.direction * w.draw(0.25, 0.4) * p.span
    w.values[w.start : w.stop] = quantise(w.values[w.start : w.stop] + offset, p.resolution)
    return w.ts, w.values, f"offset {offset:+.2f} {p.unit} for {w.size} readings"


def _variance_change(w: _Window) -> Applied:
    p = w.profile
    factor = w.magnitude if w.magnitude is not None else 4.0
    if factor <= 1:
        raise ValueError(
            f"variance_change magnitude must be > 1 (a noise multiplier), got {factor}"
        )
    # Extra independent noise with this std makes the total noise std `factor` times larger.
    extra = w.rng.normal(0.0, p.noise_std * np.sqrt(factor**2 - 1), w.size)
    w.values[w.start : w.stop] = quantise(w.values[w.start : w.stop] + extra, p.resolution)
    return w.ts, w.values, f"noise x{factor:g} for {w.size} readings"


def _seasonal_spike(w: _Window) -> Applied:
    hour = float(hour_of_day(w.ts[w.start : w.start + 1])[0])
    if not NIGHT_HOURS[0] <= hour < NIGHT_HOURS[1]:
        raise ValueError(
            f"seasonal_spike must start at night (00-06 h UTC), start_index is at {hour:.1f} h"
        )
    ts = w.ts[w.start : w.stop]
    noon = ts - ts % DAY_MS + int(NOON_HOUR * HOUR_MS)
    # Swap the night-time daily component for noon's: a plausible value at the wrong hour.
    shifted = w.values[w.start : w.stop] + daily_cycle(w.profile, noon) - daily_cycle(w.profile, ts)
    w.values[w.start : w.stop] = quantise(shifted, w.profile.resolution)
    return w.ts, w.values, f"noon-level values at {hour:.1f} h for {w.size} readings"


@dataclass(frozen=True, slots=True)
class FaultKind:
    """One kind of fault: its duration range and how it alters a window."""

    name: str
    min_ms: int
    max_ms: int
    apply: Callable[[_Window], Applied]
    summary: str


FAULT_KINDS: tuple[FaultKind, ...] = (
    FaultKind("spike", 1 * MINUTE_MS, 3 * MINUTE_MS, _spike,
              "readings 35-60 % of the range beyond high (or low); magnitude = that fraction"),
    FaultKind("drift", 2 * HOUR_MS, 4 * HOUR_MS, _drift,
              "ramp ending 20-50 % of the range above high; recovers after the window"),
    FaultKind("stuck", 1 * HOUR_MS, 3 * HOUR_MS, _stuck,
              "value frozen at the last reading before the window"),
    FaultKind("dropout", 30 * MINUTE_MS, 90 * MINUTE_MS, _dropout,
              "readings removed; returned arrays are shorter"),
    FaultKind("level_shift", 1 * HOUR_MS, 4 * HOUR_MS, _level_shift,
              "constant offset of 25-40 % of the range, up or down"),
    FaultKind("variance_change", 2 * HOUR_MS, 4 * HOUR_MS, _variance_change,
              "noise std multiplied by magnitude (default 4)"),
    FaultKind("seasonal_spike", 30 * MINUTE_MS, 90 * MINUTE_MS, _seasonal_spike,
              "noon-level values injected at night; start must be 00-06 h UTC"),
)  # fmt: skip


def fault_kind(name: str) -> FaultKind:
    """Return the fault kind called `name`."""
    for kind in FAULT_KINDS:
        if kind.name == name:
            return kind
    known = ", ".join(k.name for k in FAULT_KINDS)
    raise ValueError(f"unknown fault kind {name!r}; known: {known}")


def readings_for(duration_ms: int, interval_ms: int) -> int:
    """Number of readings a fault of `duration_ms` covers at `interval_ms` (at least one)."""
    return max(1, round(duration_ms / interval_ms))


def max_readings(kind: str, interval_ms: int) -> int:
    """Longest window, in readings, that `kind` can draw at `interval_ms`."""
    return readings_for(fault_kind(kind).max_ms, interval_ms)


def inject(
    kind: str,
    ts: IntArray,
    values: FloatArray,
    profile: MetricProfile,
    start_index: int,
    rng: np.random.Generator,
    *,
    duration_ms: int | None = None,
    direction: Literal[1, -1] | None = None,
    magnitude: float | None = None,
) -> tuple[IntArray, FloatArray, InjectedFault]:
    """Return new arrays with a `kind` fault starting at `start_index`, and its label."""
    spec = fault_kind(kind)
    ts, values = _checked_copies(ts, values, start_index)
    interval = int(np.median(np.diff(ts)))
    duration = (
        duration_ms if duration_ms is not None else int(rng.integers(spec.min_ms, spec.max_ms + 1))
    )
    stop = start_index + readings_for(duration, interval)
    if stop > ts.size:
        raise ValueError(
            f"{kind} window of {stop - start_index} readings from start_index={start_index} "
            f"overruns a series of {ts.size} readings"
        )
    sign = direction if direction is not None else _default_direction(kind, rng)
    new_ts, new_values, detail = spec.apply(
        _Window(ts, values, profile, start_index, stop, rng, sign, magnitude)
    )
    text = f"{kind} on {profile.name}: {detail}"
    return (
        new_ts,
        new_values,
        InjectedFault(kind, profile.name, int(ts[start_index]), int(ts[stop - 1]), text),
    )


def _default_direction(kind: str, rng: np.random.Generator) -> Literal[1, -1]:
    """Drift goes up by default (the documented case); other kinds pick a side at random."""
    return 1 if kind == "drift" or rng.random() < 0.5 else -1


def _checked_copies(
    ts: IntArray, values: FloatArray, start_index: int
) -> tuple[IntArray, FloatArray]:
    """Validate the inputs and return private copies, so callers' arrays stay untouched."""
    if ts.ndim != 1 or ts.shape != values.shape or ts.size < 2:
        raise ValueError(
            "ts and values must be 1-D, of equal length and >= 2 readings; "
            f"got shapes {ts.shape} and {values.shape}"
        )
    if np.any(np.diff(ts) <= 0):
        raise ValueError("ts must be strictly increasing")
    if not 0 <= start_index < ts.size:
        raise ValueError(f"start_index must be in [0, {ts.size}), got {start_index}")
    return np.array(ts, dtype=np.int64), np.array(values, dtype=np.float64)
