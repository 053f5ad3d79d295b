"""A simulated fleet as a live message stream: what each device sends, and when.

Timing. Device `d` of `N` reads all its metrics every `interval = N * M / rate` seconds;
devices are staggered by `interval / N`, so global sample `j = k * N + d` (sample `k` of
device `d`) is due `j * interval / N` seconds after the start and stamped with that instant
(epoch ms, floored). Timestamps are therefore real time, strictly increasing per series.

Faults. Signals are generated `CHUNK_SAMPLES` samples per series at a time (`generate_chunk`
carries the state over, so there are no seams); with faults on, each chunk of each series
gets one fault with probability `fault_rate`. A fault lasts as many samples as it would at
the demo's one-minute cadence (a spike 1-3, a drift 120-240), so faults keep their shape
at any rate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from forewarn.errors import InvalidInputError
from forewarn.sim.faults import InjectedFault, fault_kind, inject, readings_for
from forewarn.sim.scenario import STREAM_FAULT_KINDS
from forewarn.sim.sensors import (
    ENVIRONMENTAL,
    FloatArray,
    IntArray,
    MetricProfile,
    SeriesState,
    generate_chunk,
    initial_state,
)

CHUNK_SAMPLES = 480
FAULT_CADENCE_MS = 60_000  # fault lengths in samples are taken at this cadence
MAX_READINGS_PER_MESSAGE = 10_000


@dataclass(frozen=True, slots=True)
class SimPlan:
    """What to simulate: devices, total readings/s, message shape and faults."""

    devices: int
    rate: float  # readings (metric values) per second, all devices together
    metrics: tuple[MetricProfile, ...] = ENVIRONMENTAL
    readings_per_message: int = 3
    faults: bool = False
    fault_rate: float = 0.25
    fault_kinds: tuple[str, ...] = STREAM_FAULT_KINDS
    seed: int = 0

    def __post_init__(self) -> None:
        m = len(self.metrics)
        k = self.readings_per_message
        if not m or len({p.name for p in self.metrics}) != m:
            raise InvalidInputError(("metrics",), "need at least one metric, each named once")
        if self.devices < 1:
            raise InvalidInputError(("devices",), "must be at least 1")
        if not math.isfinite(self.rate) or self.rate <= 0:
            raise InvalidInputError(("rate",), "must be a positive number of readings/s")
        if self.rate > self.devices * m * 1000:
            raise InvalidInputError(
                ("rate",),
                f"at most {self.devices * m * 1000:,} readings/s for {self.devices} device(s) "
                f"x {m} metric(s): each series gets at most one reading per ms; add devices",
            )
        if k < 1 or k > MAX_READINGS_PER_MESSAGE or (k != 1 and k % m):
            raise InvalidInputError(
                ("readings_per_message",),
                f"must be 1 or a multiple of {m} (metrics per device) up to "
                f"{MAX_READINGS_PER_MESSAGE:,}; got {k}",
            )
        if not 0 <= self.fault_rate <= 1:
            raise InvalidInputError(("fault_rate",), "must be between 0 and 1")
        for name in self.fault_kinds:
            if name not in STREAM_FAULT_KINDS:
                known = ", ".join(STREAM_FAULT_KINDS)
                raise InvalidInputError(("fault_kinds",), f"{name!r} is not one of: {known}")

    @property
    def interval_s(self) -> float:
        """Seconds between two samples of one device."""
        return self.devices * len(self.metrics) / self.rate

    @property
    def samples_per_message(self) -> int:
        """Samples (timestamps) per message; 1 also when each metric goes alone."""
        return max(1, self.readings_per_message // len(self.metrics))

    def due_s(self, sample: int) -> float:
        """Seconds after the start at which global sample `sample` is taken."""
        return sample * self.interval_s / self.devices


@dataclass(frozen=True, slots=True)
class Message:
    """One payload for one device, due `due_s` after the start."""

    device: int
    due_s: float
    payload: bytes
    readings: int
    ts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """A fault injected into one device's series."""

    device: int
    fault: InjectedFault


class FaultLog:
    """Faults as generated, reported only as far as their readings were actually sent."""

    def __init__(self) -> None:
        self._faults: list[FaultRecord] = []
        self._sent_until: dict[int, int] = {}

    def add(self, device: int, fault: InjectedFault) -> None:
        """Note a fault generated into a future chunk."""
        self._faults.append(FaultRecord(device, fault))

    def sent(self, device: int, ts_ms: int) -> None:
        """Note that the device's readings up to `ts_ms` have been sent."""
        self._sent_until[device] = ts_ms

    def published(self) -> list[FaultRecord]:
        """Faults that started within what was sent, their end clipped to it, in time order."""
        out = []
        for record in self._faults:
            until = self._sent_until.get(record.device)
            if until is None or record.fault.start_ms > until:
                continue
            fault = record.fault
            if fault.end_ms > until:
                fault = replace(fault, end_ms=until, description=f"{fault.description} (cut short)")
            out.append(FaultRecord(record.device, fault))
        return sorted(out, key=lambda r: (r.fault.start_ms, r.device, r.fault.metric))


class _DeviceSignal:
    """One device's metrics, generated a chunk at a time (NaN where a dropout removed one)."""

    def __init__(self, plan: SimPlan, device: int, start_ms: int, faults: FaultLog) -> None:
        self._plan, self._device, self._start_ms, self._faults = plan, device, start_ms, faults
        self._rng = np.random.default_rng([plan.seed, device])
        # A separate generator for faults: the clean signal is the same with and without them.
        self._fault_rng = np.random.default_rng([plan.seed, device, 1])
        self._states: list[SeriesState] = [initial_state(p, self._rng) for p in plan.metrics]
        self._chunk = -1
        self.ts: IntArray = np.zeros(0, dtype=np.int64)
        self.values: FloatArray = np.zeros((len(plan.metrics), 0))

    def sample(self, k: int) -> tuple[int, dict[str, float]]:
        """Timestamp and present metric values of the device's sample `k`."""
        chunk, i = divmod(k, CHUNK_SAMPLES)
        if chunk != self._chunk:
            self._generate(chunk)
        column = self.values[:, i]
        present = ~np.isnan(column)
        names = [p.name for p in self._plan.metrics]
        return int(self.ts[i]), {names[m]: float(column[m]) for m in np.flatnonzero(present)}

    def _generate(self, chunk: int) -> None:
        plan = self._plan
        k = np.arange(chunk * CHUNK_SAMPLES, (chunk + 1) * CHUNK_SAMPLES, dtype=np.int64)
        step_ms = plan.interval_s * 1000 / plan.devices
        self.ts = self._start_ms + np.floor((k * plan.devices + self._device) * step_ms).astype(
            np.int64
        )
        self.values = np.full((len(plan.metrics), CHUNK_SAMPLES), np.nan)
        for m, profile in enumerate(plan.metrics):
            values, self._states[m] = generate_chunk(profile, self.ts, self._rng, self._states[m])
            kept_ts = self.ts
            if plan.faults and plan.fault_kinds and self._fault_rng.random() < plan.fault_rate:
                kept_ts, values = self._inject(profile, values)
            self.values[m, np.isin(self.ts, kept_ts)] = values
        self._chunk = chunk

    def _inject(self, profile: MetricProfile, values: FloatArray) -> tuple[IntArray, FloatArray]:
        rng = self._fault_rng
        kind = fault_kind(str(rng.choice(self._plan.fault_kinds)))
        low = readings_for(kind.min_ms, FAULT_CADENCE_MS)
        high = min(readings_for(kind.max_ms, FAULT_CADENCE_MS), CHUNK_SAMPLES // 2)
        n = int(rng.integers(low, high + 1))
        start = int(rng.integers(1, CHUNK_SAMPLES - n + 1))
        interval = int(np.median(np.diff(self.ts)))  # how `inject` turns a duration into samples
        ts, faulty, label = inject(
            kind.name, self.ts, values, profile, start, rng, duration_ms=n * interval
        )
        self._faults.add(self._device, label)
        return ts, faulty


def messages(plan: SimPlan, start_ms: int, faults: FaultLog) -> Iterator[Message]:
    """Every message of the run in the order they are due (endless)."""
    signals = [_DeviceSignal(plan, d, start_ms, faults) for d in range(plan.devices)]
    per_message = plan.samples_per_message
    pending: list[list[tuple[int, dict[str, float]]]] = [[] for _ in signals]
    j = 0
    while True:
        k, d = divmod(j, plan.devices)
        ts, values = signals[d].sample(k)
        due = plan.due_s(j)
        j += 1
        if plan.readings_per_message == 1:
            for name, value in values.items():
                yield _message(d, due, {"ts": ts, "values": {name: value}}, 1, (ts,))
            continue
        if values:
            pending[d].append((ts, values))
        if (k + 1) % per_message == 0 and pending[d]:
            yield _batch(d, due, pending[d], per_message)
            pending[d] = []


def _message(device: int, due: float, body: object, readings: int, ts: tuple[int, ...]) -> Message:
    payload = json.dumps(body, separators=(",", ":")).encode()
    return Message(device, due, payload, readings, ts)


def _batch(
    device: int, due: float, samples: list[tuple[int, dict[str, float]]], per_message: int
) -> Message:
    """One `{"ts", "values"}` object, or an array of them when a message carries several."""
    body = [{"ts": ts, "values": values} for ts, values in samples]
    readings = sum(len(values) for _, values in samples)
    ts = tuple(t for t, _ in samples)
    return _message(device, due, body[0] if per_message == 1 else body, readings, ts)
