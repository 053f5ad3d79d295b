"""Adapt any registered detector to the replay harness (picklable, for process pools)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from forewarn.detection.base import DetectorState, Scored, decide
from forewarn.detection.registry import build_detector
from forewarn.detection.tracked import tracked
from forewarn.evaluation.nab import FloatArray, IntArray
from forewarn.evaluation.replay import FitFn, Reading, Verdict


def verdict(scored: Scored, threshold: float, ts: int) -> Verdict:
    """The product's decisions on a scored reading; without a decision layer (the event
    fields None) every decided reading is its own one-reading event."""
    flag = decide(scored, threshold)
    anomalous = flag if scored.anomalous is None else scored.anomalous
    start = scored.event_start if scored.event_start is not None else ts
    return Verdict(scored.score, flag, anomalous, start if anomalous else None)


@dataclass
class DetectorReplayer:
    """A detector's state, answering the harness with the product's own decisions."""

    state: DetectorState
    threshold: float
    params: dict[str, Any]  # the detector's effective parameters, defaults filled in

    def update(self, ts: int, value: Reading) -> Verdict:
        """Score the next row and apply the detector's own decision layer."""
        return verdict(self.state.update(ts, value), self.threshold, ts)


def fit_algorithm(
    ts: IntArray,
    values: FloatArray,
    *,
    name: str,
    params: Mapping[str, Any],
    seed: int = 0,
    metrics: Sequence[str] = ("value",),
) -> DetectorReplayer:
    """Fit `name` with `params` on history (of `metrics`) and return its primed state."""
    built = build_detector(name, params, seed=seed, metrics=metrics)
    detector = built.detector.fit(ts, values)
    return DetectorReplayer(tracked(detector, ts, values), detector.threshold_, built.params)


def fit_function(name: str, *, metrics: Sequence[str] = ("value",), **params: Any) -> FitFn:
    """A replay `fit` callable for a registered algorithm on a series of `metrics` (its
    values (n, k) for k metrics); a `seed` among `params` seeds it.

    An unknown name or parameter fails here, before any replay (see `build_detector`)."""
    overrides = {k: v for k, v in params.items() if k != "seed"}
    seed = params.get("seed", 0)
    build_detector(name, overrides, seed=seed, metrics=metrics)
    return partial(fit_algorithm, name=name, params=overrides, seed=seed, metrics=tuple(metrics))
