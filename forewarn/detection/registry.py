"""The algorithms a model can be trained with, as one declarative table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from forewarn.detection.base import Detector
from forewarn.detection.pointwise import PointwiseForest
from forewarn.errors import InvalidInputError


@dataclass(frozen=True)
class AlgorithmSpec:
    """One trainable algorithm: how to build it and how to load a stored one."""

    name: str
    create: Callable[..., Detector]
    load: Callable[[Mapping[str, np.ndarray[Any, Any]], Mapping[str, Any]], Detector]
    multivariate: bool
    description: str


def _load_pointwise(
    arrays: Mapping[str, np.ndarray[Any, Any]], params: Mapping[str, Any]
) -> Detector:
    return PointwiseForest.from_arrays(arrays, params=params)


ALGORITHMS: tuple[AlgorithmSpec, ...] = (
    AlgorithmSpec(
        name="isolation_forest",
        create=PointwiseForest,
        load=_load_pointwise,
        multivariate=True,
        description="Isolation Forest on each reading's value alone (the replaced platform's).",
    ),
)
DEFAULT_ALGORITHM = "isolation_forest"


def algorithm(name: str) -> AlgorithmSpec:
    """The spec of an algorithm by name, or an error naming the valid ones."""
    for spec in ALGORITHMS:
        if spec.name == name:
            return spec
    valid = ", ".join(spec.name for spec in ALGORITHMS)
    raise InvalidInputError(
        ("body", "algorithm"), f"unknown algorithm {name!r}; use one of {valid}"
    )
