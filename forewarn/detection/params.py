"""Build a registered detector from user-supplied parameters, naming the bad ones."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from forewarn.detection.base import Detector
from forewarn.detection.registry import AlgorithmSpec
from forewarn.errors import InvalidInputError

# Parameters the train request carries as top-level fields (the replaced platform's).
_TOP_LEVEL = ("contamination", "n_estimators")


def accepted_params(spec: AlgorithmSpec) -> frozenset[str]:
    """Names the algorithm's constructor takes."""
    return frozenset(inspect.signature(spec.create).parameters)


def build(
    spec: AlgorithmSpec, params: Mapping[str, Any], *, seed: int, metrics: Sequence[str]
) -> Detector:
    """A new, unfitted detector; unknown or invalid parameters raise InvalidInputError."""
    accepted = accepted_params(spec)
    for name in params:
        if name not in accepted or name in ("seed", "metrics"):
            field = name if name in _TOP_LEVEL else "params"
            raise InvalidInputError(("body", field), f"{spec.name} does not take {name!r}")
    try:
        return spec.create(**params, seed=seed, metrics=tuple(metrics))
    except (TypeError, ValueError) as err:
        raise InvalidInputError(("body", "params"), f"{spec.name}: {err}") from err
