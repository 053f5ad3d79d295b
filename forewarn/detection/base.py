"""The detector contract: fit on history, then score a series one reading at a time.

Three layers, each testable alone (STYLE §8): a detector's state turns a reading into a
score in 0..1 (higher = more anomalous); the decision compares it with the detector's shipped
threshold; alerting (hysteresis, escalation) happens later, outside this package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

F64Array = npt.NDArray[np.float64]
I64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Arrays = dict[str, np.ndarray[Any, Any]]


class Scored(NamedTuple):
    """A state's verdict on one reading (a named tuple: every reading makes several, and a
    frozen dataclass costs four times as much to build).

    `score` is the detector's own score, never lowered to suppress a repeat. The event
    fields are set by the decision layer (`detection.events.EventTracker`); None means
    "no decision layer: use `decide`". `is_anomaly`: this reading opens a new event to
    report. `anomalous`: the reading lies inside an excursion (true for every reading while
    it lasts). `event_start`: the timestamp of the reading that opened that excursion (its
    identity; see `detection.events.event_id`), None outside one.
    """

    score: float
    warming_up: bool = False
    is_anomaly: bool | None = None
    anomalous: bool | None = None
    event_start: int | None = None


def decide(scored: Scored, threshold: float) -> bool:
    """The shipped decision: the state's own, else score above threshold once warmed up."""
    if scored.is_anomaly is not None:
        return scored.is_anomaly
    return not scored.warming_up and scored.score > threshold


@dataclass(frozen=True)
class Deviation:
    """How far one feature of a reading lies from what the model learned."""

    feature: str
    value: float
    baseline: float
    scale: float
    metric: str = ""

    @property
    def sigmas(self) -> float:
        """Signed distance from the baseline in units of the learned scale."""
        return (self.value - self.baseline) / self.scale if self.scale > 0 else 0.0


@dataclass(frozen=True)
class Explanation:
    """Why a reading was judged anomalous: a sentence, and the numbers behind it."""

    summary: str
    deviations: tuple[Deviation, ...] = ()
    metrics: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored with an anomaly and returned by the API."""
        return {
            "summary": self.summary,
            "metrics": list(self.metrics),
            "deviations": [
                {
                    "feature": d.feature,
                    "metric": d.metric,
                    "value": d.value,
                    "baseline": d.baseline,
                    "scale": d.scale,
                    "sigmas": round(d.sigmas, 2),
                }
                for d in self.deviations
            ],
        }


class DetectorState(Protocol):
    """Per-series scoring state; sees readings strictly in time order, never ahead."""

    def update(self, ts_ms: int, value: float | Sequence[float]) -> Scored:
        """Score a reading, then learn it into the recent window."""
        ...

    def explain(self) -> Explanation:
        """Why the last updated reading scored as it did."""
        ...


@runtime_checkable
class BatchState(DetectorState, Protocol):
    """A state that can score many readings at once (e.g. a stateless one, vectorised)."""

    def update_batch(
        self, ts_ms: Sequence[int], values: Sequence[float], threshold: float
    ) -> tuple[list[float], list[bool], dict[int, Explanation]]:
        """Like `update` then `decide` on each reading in turn: scores, decisions, and the
        explanation of each anomaly by its position."""
        ...


@dataclass(frozen=True)
class BatchVerdicts:
    """What `update`, `decide` and `explain` said of each reading of a batch, in order."""

    scores: list[float]
    flags: list[bool]  # is_anomaly: the reading opens an event
    warming_up: list[bool]
    explanations: dict[int, Explanation]  # of each flagged reading, by its position
    anomalous: list[bool]  # inside an excursion
    event_starts: list[int | None]  # the first reading of that excursion

    def as_tuple(self) -> tuple[list[float], list[bool], dict[int, Explanation]]:
        """The `BatchState.update_batch` form (without the warm-up flags)."""
        return self.scores, self.flags, self.explanations


@runtime_checkable
class VerdictBatchState(BatchState, Protocol):
    """A batch state that also says which readings it scored while warming up."""

    def verdict_batch(
        self, ts_ms: Sequence[int], values: Sequence[float | Sequence[float]], threshold: float
    ) -> BatchVerdicts:
        """Like `update_batch`, with each reading's `Scored.warming_up` too; a reading is
        a number, or one number per metric."""
        ...


class Detector(Protocol):
    """A fitted model of one series (or of several metrics of one device)."""

    algorithm: ClassVar[str]
    threshold_: float

    def fit(self, ts_ms: I64Array, values: F64Array) -> Self:
        """Learn from history: values shaped (n,) for one metric or (n, k) for k metrics."""
        ...

    def prime(self, ts_ms: I64Array, values: F64Array) -> DetectorState:
        """A scoring state primed with recent history (which is learned, not scored)."""
        ...

    def params(self) -> dict[str, Any]:
        """Constructor parameters, JSON-serialisable."""
        ...

    def to_arrays(self) -> Arrays:
        """Everything learned, as named numeric arrays (no pickle)."""
        ...

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> Self:
        """Rebuild a fitted detector from `to_arrays` output."""
        ...
