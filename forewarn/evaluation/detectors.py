"""Adapt any registered detector to the replay harness (picklable, for process pools)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from forewarn.detection.base import Stream, decide
from forewarn.detection.registry import algorithm
from forewarn.evaluation.nab import FloatArray, IntArray
from forewarn.evaluation.replay import FitFn


@dataclass
class DetectorStreamer:
    """A detector's stream, answering the harness with (score, shipped decision)."""

    stream: Stream
    threshold: float

    def update(self, ts: int, value: float) -> tuple[float, bool]:
        """Score the next row and apply the detector's own decision."""
        scored = self.stream.update(ts, value)
        return scored.score, decide(scored, self.threshold)


def fit_algorithm(
    ts: IntArray, values: FloatArray, *, name: str, params: Mapping[str, Any]
) -> DetectorStreamer:
    """Fit `name` with `params` on history and return its primed stream."""
    detector = algorithm(name).create(**params).fit(ts, values)
    return DetectorStreamer(detector.stream(ts, values), detector.threshold_)


def fit_function(name: str, **params: Any) -> FitFn:
    """A replay `fit` callable for a registered algorithm."""
    algorithm(name)  # fail fast on an unknown name
    return partial(fit_algorithm, name=name, params=params)
