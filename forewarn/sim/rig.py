"""A simulated pump rig: six physically coupled sensors at 1 Hz, with labelled faults.

The pump's load (its speed set-point) steps between a few levels with short ramps; flow,
pressure, motor current, vibration and voltage follow it at once, the temperature with a
first-order lag. So in normal operation the metrics move together, and each fault kind
breaks that in its own way:

- ``valve``: a partly closed valve — less flow, higher pressure, a lower current;
- ``cavitation``: vibration up, the flow lower and much noisier;
- ``imbalance``: a rotor imbalance — vibration up at the same flow;
- ``drift``: the pressure sensor drifts away from what the others say;
- ``stuck``: the flow sensor repeats its last value while the load keeps changing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RIG_METRICS = ("flow", "pressure", "temperature", "vibration", "current", "voltage")
RIG_FAULTS = ("valve", "cavitation", "imbalance", "drift", "stuck")
LOAD_LEVELS = (0.6, 0.8, 1.0)
START_MS = 1_704_067_200_000
_NOISE = np.array([0.3, 0.05, 0.1, 0.05, 0.1, 1.0])  # per metric, in its own unit
FLOW, PRESSURE, TEMPERATURE, VIBRATION, CURRENT = range(5)


@dataclass(frozen=True)
class RigFault:
    """One fault: its kind and the rows it lasts, [start, end)."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class RigRun:
    """Readings of one run (n, 6) at 1 Hz, the load behind them and each row's fault kind."""

    ts_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    load: npt.NDArray[np.float64]
    fault: npt.NDArray[np.str_]  # "" on normal rows

    @property
    def labels(self) -> npt.NDArray[np.bool_]:
        """True on the rows of a fault."""
        return np.asarray(self.fault != "", dtype=np.bool_)


def load_profile(
    n: int, rng: np.random.Generator, hold: tuple[int, int] = (240, 600)
) -> np.ndarray:
    """A load stepping between `LOAD_LEVELS`, each held for `hold` seconds, 20-s ramps."""
    targets, at = [], 0
    while at < n:
        length = int(rng.integers(*hold))
        targets.append(np.full(length, rng.choice(LOAD_LEVELS)))
        at += length
    steps = np.concatenate(targets)[:n]
    kernel = np.ones(20) / 20
    return np.convolve(np.pad(steps, (19, 0), mode="edge"), kernel, mode="valid")


def healthy(load: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What the six sensors read on a healthy rig at this load."""
    lagged = np.empty_like(load)
    level = load[0]
    for i, x in enumerate(load):  # the water and motor heat up with a 2-minute lag
        level += (x - level) / 120.0
        lagged[i] = level
    clean = np.column_stack(
        [30 * load, 1.0 + 4 * load, 25 + 10 * lagged, 0.5 + 1.5 * load, 2 + 6 * load,
         230 - 2 * load]
    )  # fmt: skip
    return np.asarray(clean + rng.normal(0, 1, clean.shape) * _NOISE, dtype=np.float64)


def inject_fault(values: np.ndarray, fault: RigFault, rng: np.random.Generator) -> None:
    """Change `values` in place over the fault's rows, as the fault would."""
    rows = slice(fault.start, fault.end)
    n = fault.end - fault.start
    if fault.kind == "valve":
        values[rows, FLOW] *= 0.75
        values[rows, PRESSURE] += 1.0
        values[rows, CURRENT] -= 0.6
    elif fault.kind == "cavitation":
        values[rows, VIBRATION] += 0.5
        values[rows, FLOW] += rng.normal(-1.0, 2.0, n)
    elif fault.kind == "imbalance":
        values[rows, VIBRATION] += 0.5
    elif fault.kind == "drift":
        values[rows, PRESSURE] += np.linspace(0.0, 1.5, n)
    elif fault.kind == "stuck":
        values[rows, FLOW] = values[fault.start - 1, FLOW]
    else:
        raise ValueError(f"unknown rig fault {fault.kind!r}; use one of {', '.join(RIG_FAULTS)}")


def rig_run(
    n: int,
    *,
    seed: int,
    faults: Sequence[RigFault] = (),
    load: np.ndarray | None = None,
    start_ms: int = START_MS,
) -> RigRun:
    """A run of `n` one-second readings of the rig with `faults` (default load: random steps)."""
    rng = np.random.default_rng(seed)
    load = load_profile(n, rng) if load is None else np.asarray(load, dtype=np.float64)
    values = healthy(load, rng)
    kinds = np.full(n, "", dtype="<U10")
    for fault in faults:
        inject_fault(values, fault, rng)
        kinds[fault.start : fault.end] = fault.kind
    ts = start_ms + np.arange(n, dtype=np.int64) * 1000
    return RigRun(ts, values, load, kinds)


SUITE_FAULTS = (
    RigFault("valve", 400, 640),
    RigFault("cavitation", 1000, 1240),
    RigFault("imbalance", 1600, 1840),
    RigFault("drift", 2150, 2450),
    RigFault("stuck", 2900, 3200),  # the load steps up at 3000, while the flow is stuck
)
SUITE_LOAD = (0.8, 0.6, 1.0, 0.8, 0.6, 1.0, 0.8, 1.0, 0.6, 0.8, 1.0, 0.6)  # 5 minutes each


def fault_suite(seed: int) -> tuple[RigRun, RigRun]:
    """A normal hour of training readings and an hour with one fault of each kind in turn,
    both with load changes over the same levels."""
    train = rig_run(3600, seed=seed)
    steps = np.repeat(SUITE_LOAD, 300).astype(np.float64)
    load = np.convolve(np.pad(steps, (19, 0), mode="edge"), np.ones(20) / 20, mode="valid")
    return train, rig_run(len(steps), seed=seed + 1, faults=SUITE_FAULTS, load=load)
