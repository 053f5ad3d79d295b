"""One source for every detector default: the constructor's signature, read by the spec, and
the same detector whether it is trained over HTTP or replayed by a backtest."""

from __future__ import annotations

import inspect

import pytest
from fastapi.testclient import TestClient

from forewarn.detection.params import CALLER_PARAMS, clone, get_params, plain
from forewarn.detection.registry import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    AlgorithmSpec,
    algorithm,
    build_detector,
)
from forewarn.errors import InvalidInputError
from forewarn.evaluation.detectors import DetectorReplayer, fit_function
from tests.api.helpers import API, get_model
from tests.factories import Headers, normal_readings, register_device, send_readings, trained_model

# Fields the stored parameters carry besides the detector's own (the series, the window).
NOT_DETECTOR = {"metrics", "training_window_days"}


def signature_defaults(spec: AlgorithmSpec) -> dict[str, object]:
    """The constructor's keyword defaults as Python states them, with the spec's fixed ones."""
    init = inspect.signature(spec.detector_class.__init__).parameters.values()
    found = {p.name: p.default for p in init if p.kind is inspect.Parameter.KEYWORD_ONLY}
    return {k: spec.fixed.get(k, v) for k, v in found.items() if k not in CALLER_PARAMS}


@pytest.mark.parametrize("spec", ALGORITHMS, ids=lambda spec: spec.name)
def test_spec_defaults_are_the_constructor_defaults(spec: AlgorithmSpec) -> None:
    assert spec.defaults == signature_defaults(spec)
    assert spec.parameters == frozenset(signature_defaults(spec))
    built = build_detector(spec.name)
    # The effective parameters are every constructor parameter, each at its default.
    assert set(built.params) == set(spec.defaults) | set(CALLER_PARAMS)
    for name, default in spec.defaults.items():
        if default is not None:  # None stands for "empty" (e.g. base_params -> {})
            assert built.params[name] == plain(default), name
    assert get_params(clone(built.detector)) == built.params


def test_forest_defaults_differ_by_algorithm_and_requests_override_them() -> None:
    # The point-wise forest keeps the replaced platform's threshold; the windowed one is
    # calibrated on its feature rows (docs/detection.md): two defaults, one place each.
    assert algorithm("isolation_forest").defaults["contamination"] == 0.01
    assert algorithm("windowed_forest").defaults["contamination"] == 0.001
    built = build_detector("windowed_forest", {"contamination": 0.05}, seed=4, metrics=["t"])
    assert built.params == {
        **plain(algorithm("windowed_forest").defaults),
        "contamination": 0.05,
        "seed": 4,
        "metrics": ["t"],
    }


@pytest.mark.parametrize(
    ("name", "overrides", "loc"),
    [
        ("lof", {}, ("algorithm",)),
        ("isolation_forest", {"seed": 3}, ("parameters", "seed")),
        ("robust_zscore", {"n_estimators": 50}, ("parameters", "n_estimators")),
        (DEFAULT_ALGORITHM, {"no_such_param": 1}, ("parameters", "no_such_param")),
    ],
)
def test_build_errors_name_the_argument_not_the_request(
    name: str, overrides: dict[str, object], loc: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_detector(name, overrides)
    assert caught.value.loc == loc


@pytest.mark.slow
@pytest.mark.parametrize("name", [DEFAULT_ALGORITHM, "windowed_forest", "isolation_forest"])
def test_api_training_and_backtest_build_the_same_detector(
    client: TestClient, admin: Headers, name: str
) -> None:
    device = register_device(client, admin)
    series = normal_readings(600)
    send_readings(client, admin, device, series)
    model = trained_model(client, admin, device, algorithm=name)
    shown = get_model(client, admin, model["id"])["parameters"]
    replayed = fit_function(name)(series.ts, series.values)  # as every backtest replay fits
    assert isinstance(replayed, DetectorReplayer)

    assert shown == model["parameters"]
    own = {k: v for k, v in shown.items() if k not in NOT_DETECTOR}
    assert own == {k: v for k, v in replayed.params.items() if k not in NOT_DETECTOR}
    assert own == {k: v for k, v in build_detector(name).params.items() if k != "metrics"}
    listed = client.get(f"{API}/ml/algorithms", headers=admin).json()["data"]
    (entry,) = [a for a in listed if a["name"] == name]
    assert entry["defaults"] == {k: v for k, v in own.items() if k != "seed"}
    # Same parameters, seed and readings: the same fitted model, hence the same threshold.
    assert model["threshold"] == pytest.approx(replayed.threshold)
