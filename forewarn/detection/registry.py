"""The algorithms a model can be trained with, as one declarative table, and the one function
that builds a detector from a name and a request's parameters (training, retraining, the
demo and backtests all go through `build_detector`, so they run with the same defaults)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forewarn.detection.base import Detector
from forewarn.detection.ensemble import LikelihoodEnsemble
from forewarn.detection.likelihood import AnomalyLikelihood
from forewarn.detection.params import CALLER_PARAMS, default_params
from forewarn.detection.pca_spc import PcaSpc
from forewarn.detection.pointwise import PointwiseForest
from forewarn.detection.rare_level import RareLevel
from forewarn.detection.robust import RobustZScore
from forewarn.detection.seasonal import SeasonalProfile
from forewarn.detection.surprise_rate import SurpriseRate
from forewarn.detection.windowed_forest import WindowedForest
from forewarn.errors import InvalidInputError

MIN_READINGS = 10  # a model needs at least this many training readings ...
USEFUL_READINGS = 100  # ... and the default at least this many: its tails, likelihood
# distribution and control limits are learned from the training scores (docs/detection.md)


@dataclass(frozen=True)
class AlgorithmSpec:
    """One trainable algorithm: its detector class and the arguments that make it this one.

    Its parameters and their defaults are the class's constructor's (STYLE §14); `fixed`
    only pins what tells two algorithms of one class apart (e.g. the likelihood's base).
    """

    name: str
    detector_class: type[Any]
    multivariate: bool
    description: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    min_readings: int = MIN_READINGS  # the shortest training history worth a model

    @property
    def defaults(self) -> dict[str, Any]:
        """Each parameter a request may set, with the value used when it sets none."""
        found = default_params(self.detector_class)
        return {k: self.fixed.get(k, v) for k, v in found.items() if k not in CALLER_PARAMS}

    @property
    def parameters(self) -> frozenset[str]:
        """Names of the parameters a request may set."""
        return frozenset(self.defaults)

    def create(self, **params: Any) -> Detector:
        """A new, unfitted detector; parameters not given take the constructor's defaults."""
        detector: Detector = self.detector_class(**{**self.fixed, **params})
        return detector

    def load(
        self, arrays: Mapping[str, np.ndarray[Any, Any]], params: Mapping[str, Any]
    ) -> Detector:
        """A fitted detector from its stored arrays and parameters."""
        detector: Detector = self.detector_class.from_arrays(arrays, params=params)
        return detector


@dataclass(frozen=True)
class Built:
    """A new, unfitted detector and its effective parameters (every default filled in)."""

    detector: Detector
    params: dict[str, Any]


ALGORITHMS: tuple[AlgorithmSpec, ...] = (
    AlgorithmSpec(
        name="isolation_forest",
        detector_class=PointwiseForest,
        multivariate=True,
        description="Isolation Forest on each reading's value alone (the replaced platform's).",
    ),
    AlgorithmSpec(
        name="robust_zscore",
        detector_class=RobustZScore,
        multivariate=True,
        description="Largest tail-calibrated median/MAD z over features of the recent past.",
    ),
    AlgorithmSpec(
        name="windowed_forest",
        detector_class=WindowedForest,
        multivariate=True,
        description="Isolation Forest over features of the recent past and the time of day.",
    ),
    AlgorithmSpec(
        name="seasonal_profile",
        detector_class=SeasonalProfile,
        multivariate=True,
        description="Robust z of the reading against the median at its time of week or day.",
    ),
    AlgorithmSpec(
        name="rare_level",
        detector_class=RareLevel,
        multivariate=True,
        description="How seldom training visited the levels of the last hour (two-sided tails).",
    ),
    AlgorithmSpec(
        name="surprise_rate",
        detector_class=SurpriseRate,
        multivariate=True,
        description="How rare the last hour's count of unusual changes is at the training rate.",
    ),
    AlgorithmSpec(
        name="robust_likelihood",
        detector_class=AnomalyLikelihood,
        fixed={"base": "robust_zscore"},
        multivariate=True,
        description="Anomaly likelihood of the robust z-score's recent raw scores.",
    ),
    AlgorithmSpec(
        name="forest_likelihood",
        detector_class=AnomalyLikelihood,
        fixed={"base": "windowed_forest"},
        multivariate=True,
        description="Anomaly likelihood of the windowed forest's recent raw scores.",
    ),
    AlgorithmSpec(
        name="ensemble",
        detector_class=LikelihoodEnsemble,
        multivariate=True,
        description=(
            "Robust, seasonal, rare-level and surprise-rate likelihoods + range check"
            " (the default for one metric)."
        ),
        min_readings=USEFUL_READINGS,
    ),
    AlgorithmSpec(
        name="pca_spc",
        detector_class=PcaSpc,
        multivariate=True,
        description=(
            "Device-level PCA with Hotelling T² and Q (SPE) control limits: metrics that"
            " move unlike in training (one metric: an EWMA chart on its z-score)."
        ),
        min_readings=USEFUL_READINGS,
    ),
)
DEFAULT_ALGORITHM = "ensemble"  # a series of one metric
DEVICE_ALGORITHM = "pca_spc"  # a device-level model: how its metrics move together


def algorithm(name: str) -> AlgorithmSpec:
    """The spec of an algorithm by name, or an error naming the valid ones."""
    for spec in ALGORITHMS:
        if spec.name == name:
            return spec
    valid = ", ".join(spec.name for spec in ALGORITHMS)
    raise InvalidInputError(("algorithm",), f"unknown algorithm {name!r}; use one of {valid}")


def build_detector(
    name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    metrics: Sequence[str] = ("value",),
) -> Built:
    """The algorithm's detector with its spec's defaults except where `overrides` says.

    Errors are located in these arguments: ("algorithm",) or ("parameters", name).
    """
    spec = algorithm(name)
    given = dict(overrides or {})
    for key in given:
        if key not in spec.parameters:
            raise InvalidInputError(("parameters", key), f"{spec.name} does not take {key!r}")
    try:
        detector = spec.create(**given, seed=seed, metrics=tuple(metrics))
    except (TypeError, ValueError) as err:
        raise InvalidInputError(("parameters",), f"{spec.name}: {err}") from err
    return Built(detector, detector.params())
