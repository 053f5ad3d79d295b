"""A detector's parameters, read from its constructor (scikit-learn's `get_params`, STYLE §14).

The keyword-only arguments of a detector's `__init__` are its parameters, and their defaults
are the algorithm's defaults: nothing here (or anywhere else) writes them out again.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# Set by whoever builds the detector (the series' metric names, a seed), never by a request.
CALLER_PARAMS = ("seed", "metrics")


def init_parameters(cls: type[Any]) -> tuple[inspect.Parameter, ...]:
    """The keyword-only parameters of `cls.__init__`, in order."""
    found = inspect.signature(cls).parameters.values()
    return tuple(p for p in found if p.kind is inspect.Parameter.KEYWORD_ONLY)


def param_names(cls: type[Any]) -> tuple[str, ...]:
    """Names of the constructor's parameters, in order."""
    return tuple(p.name for p in init_parameters(cls))


def default_params(cls: type[Any]) -> dict[str, Any]:
    """Each constructor parameter's default, as the signature states it."""
    return {p.name: p.default for p in init_parameters(cls)}


def get_params(detector: object) -> dict[str, Any]:
    """The detector's constructor parameters as stored on it, JSON-serialisable."""
    return {name: plain(getattr(detector, name)) for name in param_names(type(detector))}


def known_params(cls: type[Any], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entries of `params` the constructor takes (stored metadata may hold more)."""
    names = param_names(cls)
    return {k: v for k, v in (params or {}).items() if k in names}


def clone(detector: T) -> T:
    """A new, unfitted detector with the same parameters."""
    return type(detector)(**get_params(detector))


def plain(value: Any) -> Any:
    """A parameter value as JSON has it: numpy scalars as int/float, tuples as lists."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [plain(v) for v in value]
    return value
