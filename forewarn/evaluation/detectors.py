"""Adapt any registered detector to the replay harness (picklable, for process pools)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from forewarn.detection.base import DetectorState, decide
from forewarn.detection.registry import build_detector
from forewarn.detection.tracked import tracked
from forewarn.evaluation.nab import FloatArray, IntArray
from forewarn.evaluation.replay import FitFn


@dataclass
class DetectorReplayer:
    """A detector's state, answering the harness with (score, shipped decision)."""

    state: DetectorState
    threshold: float
    params: dict[str, Any]  # the detector's effective parameters, defaults filled in

    def update(self, ts: int, value: float) -> tuple[float, bool]:
        """Score the next row and apply the detector's own decision."""
        scored = self.state.update(ts, value)
        return scored.score, decide(scored, self.threshold)


def fit_algorithm(
    ts: IntArray, values: FloatArray, *, name: str, params: Mapping[str, Any], seed: int = 0
) -> DetectorReplayer:
    """Fit `name` with `params` on history and return its primed state."""
    built = build_detector(name, params, seed=seed)
    detector = built.detector.fit(ts, values)
    return DetectorReplayer(tracked(detector, ts, values), detector.threshold_, built.params)


def fit_function(name: str, **params: Any) -> FitFn:
    """A replay `fit` callable for a registered algorithm; a `seed` among `params` seeds it.

    An unknown name or parameter fails here, before any replay (see `build_detector`)."""
    overrides = {k: v for k, v in params.items() if k != "seed"}
    seed = params.get("seed", 0)
    build_detector(name, overrides, seed=seed)
    return partial(fit_algorithm, name=name, params=overrides, seed=seed)
