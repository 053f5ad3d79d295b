"""Ready-made scenarios: the labelled demo data set and an endless multi-device stream."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from forewarn.sim.faults import InjectedFault, inject, max_readings
from forewarn.sim.sensors import (
    DAY_MS,
    ENVIRONMENTAL,
    HOUR_MS,
    FloatArray,
    IntArray,
    MetricProfile,
    SeriesState,
    generate,
    generate_chunk,
    initial_state,
    timestamps,
)

# Seasonal spikes need a night-time start, which a random position cannot promise.
STREAM_FAULT_KINDS = ("spike", "drift", "stuck", "dropout", "level_shift", "variance_change")


@dataclass(frozen=True, eq=False, slots=True)
class SimulatedSeries:
    """One metric of one device, with the labels of the faults injected into it."""

    device_key: str
    metric: str
    ts_ms: IntArray
    values: FloatArray
    faults: tuple[InjectedFault, ...]


@dataclass(frozen=True, slots=True)
class _Device:
    key: str
    name: str
    location: str
    model: str
    firmware: str


@dataclass(frozen=True, slots=True)
class _Placement:
    """A demo fault: where it goes and how many hours into the last day it starts."""

    device_key: str
    metric: str
    kind: str
    hours_into_last_day: float


_DEVICES = (
    _Device("sensor-01", "Temperature Sensor 01", "Hall A", "EnviroSense ES-3", "2.4.1"),
    _Device("sensor-02", "Temperature Sensor 02", "Hall B", "EnviroSense ES-3", "2.4.1"),
    _Device("sensor-03", "Temperature Sensor 03", "Cold store", "EnviroSense ES-3", "2.3.7"),
)
_DEMO_FAULTS = (
    _Placement("sensor-01", "temperature", "spike", 3.0),
    _Placement("sensor-02", "temperature", "drift", 7.0),
    _Placement("sensor-03", "humidity", "stuck", 12.0),
    _Placement("sensor-01", "pressure", "dropout", 16.0),
    _Placement("sensor-02", "pressure", "spike", 20.0),
)


def device_catalogue() -> list[dict[str, object]]:
    """Return the demo devices as plain dicts (key, name, type, location, metadata)."""
    return [
        {
            "key": d.key,
            "name": d.name,
            "type": "environmental",
            "location": d.location,
            "metadata": {"model": d.model, "firmware": d.firmware},
            "metrics": [{"name": p.name, "unit": p.unit} for p in ENVIRONMENTAL],
        }
        for d in _DEVICES
    ]


def demo_scenario(
    *,
    end_ms: int,
    days: float = 2,
    interval_ms: int = 60_000,
    seed: int = 0,
    with_faults: bool = True,
) -> list[SimulatedSeries]:
    """Return 9 series (3 devices x temperature/humidity/pressure) ending at `end_ms`."""
    if days <= 1 or not 0 < interval_ms <= HOUR_MS:
        raise ValueError(f"need days > 1 and 0 < interval_ms <= 1 h; got {days=}, {interval_ms=}")
    n = round(days * DAY_MS / interval_ms)
    ts = timestamps(end_ms - (n - 1) * interval_ms, n, interval_ms)
    series = []
    for d, device in enumerate(_DEVICES):
        for m, profile in enumerate(ENVIRONMENTAL):
            # Separate generators for signal and faults: the clean part is then the same
            # with and without faults, and adding a fault never reshuffles other series.
            values = generate(
                profile, int(ts[0]), n, interval_ms, np.random.default_rng([seed, d, m])
            )
            fault_rng = np.random.default_rng([seed, d, m, 1])
            placements = _placements(device.key, profile.name) if with_faults else ()
            series.append(
                _with_faults(device.key, profile, ts, values, placements, end_ms, fault_rng)
            )
    return series


def _placements(device_key: str, metric: str) -> tuple[_Placement, ...]:
    """Demo faults of one series, latest first so a dropout never shifts a later index."""
    found = [p for p in _DEMO_FAULTS if (p.device_key, p.metric) == (device_key, metric)]
    return tuple(sorted(found, key=lambda p: -p.hours_into_last_day))


def _with_faults(
    device_key: str,
    profile: MetricProfile,
    ts: IntArray,
    values: FloatArray,
    placements: tuple[_Placement, ...],
    end_ms: int,
    rng: np.random.Generator,
) -> SimulatedSeries:
    """Inject `placements` into one clean series and freeze the result."""
    labels = []
    for place in placements:
        at_ms = end_ms - DAY_MS + round(place.hours_into_last_day * HOUR_MS)
        start = int(np.searchsorted(ts, at_ms))
        ts, values, label = inject(place.kind, ts, values, profile, start, rng)
        labels.append(label)
    ts.setflags(write=False)
    values.setflags(write=False)
    labelled = tuple(sorted(labels, key=lambda f: f.start_ms))
    return SimulatedSeries(device_key, profile.name, ts, values, labelled)


def stream(
    profiles: Sequence[MetricProfile],
    devices: int,
    start_ms: int,
    interval_ms: int,
    rng: np.random.Generator,
    fault_rate: float,
    *,
    on_fault: Callable[[int, InjectedFault], None] | None = None,
) -> Iterator[tuple[int, int, dict[str, float]]]:
    """Yield (device_index, ts_ms, {metric: value}) forever, time-major, one day at a time.

    `fault_rate` is the probability that a series gets one fault in a simulated day;
    `on_fault(device_index, label)` hears of each fault before its readings are yielded.
    Dropped-out metrics are absent from the dict; a reading with no metrics is skipped.
    """
    _check_stream(profiles, devices, interval_ms, fault_rate)
    # Checked above rather than inside the generator, so bad arguments fail at the call.
    return _days(profiles, devices, start_ms, interval_ms, rng, fault_rate, on_fault)


def _days(
    profiles: Sequence[MetricProfile],
    devices: int,
    start_ms: int,
    interval_ms: int,
    rng: np.random.Generator,
    fault_rate: float,
    on_fault: Callable[[int, InjectedFault], None] | None,
) -> Iterator[tuple[int, int, dict[str, float]]]:
    """The endless body of `stream`, one simulated day per loop."""
    states = [[initial_state(p, rng) for p in profiles] for _ in range(devices)]
    chunk = DAY_MS // interval_ms
    while True:
        ts = timestamps(start_ms, chunk, interval_ms)
        days = [_day(profiles, states[d], ts, rng, fault_rate) for d in range(devices)]
        for d, (_, labels) in enumerate(days):
            for label in labels:
                if on_fault is not None:
                    on_fault(d, label)
        yield from _interleave(profiles, ts, [values for values, _ in days])
        start_ms += chunk * interval_ms


def _check_stream(
    profiles: Sequence[MetricProfile], devices: int, interval_ms: int, fault_rate: float
) -> None:
    """Reject stream arguments that would give empty, ambiguous or seam-y output."""
    names = [p.name for p in profiles]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"profiles must be non-empty with unique names, got {names}")
    if devices < 1 or not 0 < interval_ms <= HOUR_MS or not 0 <= fault_rate <= 1:
        raise ValueError(
            "need devices >= 1, 0 < interval_ms <= 1 h and 0 <= fault_rate <= 1; "
            f"got {devices=}, {interval_ms=}, {fault_rate=}"
        )


def _day(
    profiles: Sequence[MetricProfile],
    states: list[SeriesState],
    ts: IntArray,
    rng: np.random.Generator,
    fault_rate: float,
) -> tuple[FloatArray, list[InjectedFault]]:
    """One device's day as a (metrics x readings) array, NaN where dropped out."""
    out = np.full((len(profiles), ts.size), np.nan)
    labels = []
    for m, profile in enumerate(profiles):
        values, states[m] = generate_chunk(profile, ts, rng, states[m])
        kept_ts = ts
        if rng.random() < fault_rate:
            kind = str(rng.choice(STREAM_FAULT_KINDS))
            start = int(rng.integers(0, ts.size - max_readings(kind, int(ts[1] - ts[0])) + 1))
            kept_ts, values, label = inject(kind, ts, values, profile, start, rng)
            labels.append(label)
        out[m, np.isin(ts, kept_ts)] = values
    return out, labels


def _interleave(
    profiles: Sequence[MetricProfile], ts: IntArray, columns: list[FloatArray]
) -> Iterator[tuple[int, int, dict[str, float]]]:
    """Turn per-device day arrays into time-major batches, leaving out missing values."""
    for i, t in enumerate(ts.tolist()):
        for d, column in enumerate(columns):
            present = ~np.isnan(column[:, i])
            batch = {p.name: float(column[m, i]) for m, p in enumerate(profiles) if present[m]}
            if batch:
                yield d, t, batch
