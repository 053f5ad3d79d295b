"""Injected faults versus detections: which faults were caught, how late, and false alarms.

A fault counts as caught only when a reading inside its window (both ends inclusive,
as `InjectedFault` defines them) was flagged. A flag shortly after a window's end is
still blamed on the fault rather than counted as a false alarm, because a detector may
react to the first readings after the fault too; it does not make the fault caught.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from forewarn.sim import InjectedFault

MINUTE_MS = 60_000
DEFAULT_GRACE_MS = 10 * MINUTE_MS

Timestamps = Sequence[int] | npt.NDArray[np.int64]
Status = Literal["caught", "missed", "unobservable"]


@dataclass(frozen=True)
class FaultOutcome:
    """How one injected fault fared against the detections."""

    fault: InjectedFault
    first_detection_ms: int | None
    readings: int | None  # scored readings inside the window; None when not known

    @property
    def status(self) -> Status:
        """Caught, missed, or unobservable (not a single reading in the window was scored)."""
        if self.first_detection_ms is not None:
            return "caught"
        return "unobservable" if self.readings == 0 else "missed"

    @property
    def delay_minutes(self) -> float | None:
        """Minutes from the fault's first reading to its first detection, if caught."""
        if self.first_detection_ms is None:
            return None
        return (self.first_detection_ms - self.fault.start_ms) / MINUTE_MS


@dataclass(frozen=True)
class Evaluation:
    """Fault outcomes, detection counts and scored readings of one or more series."""

    outcomes: tuple[FaultOutcome, ...]
    detections: int
    false_alarms: int
    scored: int | None

    @property
    def caught(self) -> int:
        """Number of faults caught."""
        return sum(1 for outcome in self.outcomes if outcome.status == "caught")


def evaluate(
    faults: Sequence[InjectedFault],
    detections_ts: Timestamps,
    grace_ms: int = DEFAULT_GRACE_MS,
    *,
    scored_ts: Timestamps | None = None,
) -> Evaluation:
    """Match the detections of one series against its faults."""
    if grace_ms < 0:
        raise ValueError(f"grace_ms must be >= 0, got {grace_ms}")
    detections = np.sort(np.asarray(detections_ts, dtype=np.int64))
    scored = None if scored_ts is None else np.sort(np.asarray(scored_ts, dtype=np.int64))
    outcomes = tuple(_outcome(fault, detections, scored) for fault in faults)
    excused = np.zeros(detections.size, dtype=bool)
    for fault in faults:
        excused |= (detections >= fault.start_ms) & (detections <= fault.end_ms + grace_ms)
    return Evaluation(
        outcomes=outcomes,
        detections=int(detections.size),
        false_alarms=int((~excused).sum()),
        scored=None if scored is None else int(scored.size),
    )


def combine(evaluations: Iterable[Evaluation]) -> Evaluation:
    """Totals over several series; `scored` is None unless every part knows it."""
    parts = list(evaluations)
    scored = [part.scored for part in parts]
    return Evaluation(
        outcomes=tuple(outcome for part in parts for outcome in part.outcomes),
        detections=sum(part.detections for part in parts),
        false_alarms=sum(part.false_alarms for part in parts),
        scored=None if None in scored else sum(s for s in scored if s is not None),
    )


def _outcome(
    fault: InjectedFault, detections: npt.NDArray[np.int64], scored: npt.NDArray[np.int64] | None
) -> FaultOutcome:
    """The first detection inside the window (sorted input) and the readings scored there."""
    first = int(np.searchsorted(detections, fault.start_ms, side="left"))
    hit = first < detections.size and detections[first] <= fault.end_ms
    return FaultOutcome(
        fault=fault,
        first_detection_ms=int(detections[first]) if hit else None,
        readings=None if scored is None else _count_between(scored, fault.start_ms, fault.end_ms),
    )


def _count_between(sorted_ts: npt.NDArray[np.int64], start_ms: int, end_ms: int) -> int:
    """How many sorted timestamps lie in [start_ms, end_ms]."""
    low = np.searchsorted(sorted_ts, start_ms, side="left")
    high = np.searchsorted(sorted_ts, end_ms, side="right")
    return int(high - low)
