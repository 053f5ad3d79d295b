"""The algorithms a model can be trained with, as one declarative table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from forewarn.detection.base import Detector
from forewarn.detection.ensemble import LikelihoodEnsemble
from forewarn.detection.likelihood import AnomalyLikelihood
from forewarn.detection.pointwise import PointwiseForest
from forewarn.detection.robust import RobustZScore
from forewarn.detection.seasonal import SeasonalProfile
from forewarn.detection.windowed_forest import WindowedForest
from forewarn.errors import InvalidInputError


@dataclass(frozen=True)
class AlgorithmSpec:
    """One trainable algorithm: how to build it and how to load a stored one."""

    name: str
    create: Callable[..., Detector]
    load: Callable[[Mapping[str, np.ndarray[Any, Any]], Mapping[str, Any]], Detector]
    multivariate: bool
    description: str


def _loader(
    cls: Any,
) -> Callable[[Mapping[str, np.ndarray[Any, Any]], Mapping[str, Any]], Detector]:
    """The `load` of a detector class: its from_arrays with the stored params."""

    def load(arrays: Mapping[str, np.ndarray[Any, Any]], params: Mapping[str, Any]) -> Detector:
        detector: Detector = cls.from_arrays(arrays, params=params)
        return detector

    return load


ALGORITHMS: tuple[AlgorithmSpec, ...] = (
    AlgorithmSpec(
        name="isolation_forest",
        create=PointwiseForest,
        load=_loader(PointwiseForest),
        multivariate=True,
        description="Isolation Forest on each reading's value alone (the replaced platform's).",
    ),
    AlgorithmSpec(
        name="robust_zscore",
        create=RobustZScore,
        load=_loader(RobustZScore),
        multivariate=True,
        description="Largest tail-calibrated median/MAD z over features of the recent past.",
    ),
    AlgorithmSpec(
        name="windowed_forest",
        create=WindowedForest,
        load=_loader(WindowedForest),
        multivariate=True,
        description="Isolation Forest over features of the recent past and the time of day.",
    ),
    AlgorithmSpec(
        name="seasonal_profile",
        create=SeasonalProfile,
        load=_loader(SeasonalProfile),
        multivariate=True,
        description="Robust z of the reading against the median at its time of week or day.",
    ),
    AlgorithmSpec(
        name="robust_likelihood",
        create=partial(AnomalyLikelihood, base="robust_zscore"),
        load=_loader(AnomalyLikelihood),
        multivariate=True,
        description="Anomaly likelihood of the robust z-score's recent raw scores.",
    ),
    AlgorithmSpec(
        name="forest_likelihood",
        create=partial(AnomalyLikelihood, base="windowed_forest"),
        load=_loader(AnomalyLikelihood),
        multivariate=True,
        description="Anomaly likelihood of the windowed forest's recent raw scores.",
    ),
    AlgorithmSpec(
        name="ensemble",
        create=LikelihoodEnsemble,
        load=_loader(LikelihoodEnsemble),
        multivariate=True,
        description=(
            "Robust and seasonal likelihoods + range check, reporting each excursion once"
            " (default)."
        ),
    ),
)
DEFAULT_ALGORITHM = "ensemble"


def algorithm(name: str) -> AlgorithmSpec:
    """The spec of an algorithm by name, or an error naming the valid ones."""
    for spec in ALGORITHMS:
        if spec.name == name:
            return spec
    valid = ", ".join(spec.name for spec in ALGORITHMS)
    raise InvalidInputError(
        ("body", "algorithm"), f"unknown algorithm {name!r}; use one of {valid}"
    )
