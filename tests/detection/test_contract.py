"""One generic check suite for every registered detector (STYLE §10).

Parametrised over `ALGORITHMS`, so a detector added to the registry is checked here
without a line of new test code.
"""

from __future__ import annotations

import inspect
import io
import json
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import pytest

from forewarn.detection.base import Detector, Scored, decide
from forewarn.detection.registry import ALGORITHMS, AlgorithmSpec

SPECS = {spec.name: spec for spec in ALGORITHMS}
METRICS = ("temperature", "humidity", "pressure")
INTERVAL_MS = 300_000
N_TRAIN, N_TEST = 1_500, 400
FAULT_ROWS = ((1_600, 1_603), (1_700, 1_740), (1_820, 1_830))  # spike, level shift, spike


@cache
def series(k: int = 1, faults: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Five-minute readings with a daily cycle; optionally spikes and a level shift."""
    rng = np.random.default_rng(k)
    n = N_TRAIN + N_TEST
    ts = 1_704_067_200_000 + np.arange(n, dtype=np.int64) * INTERVAL_MS
    cycle = np.sin(2 * np.pi * np.arange(n) / 288)[:, None]
    values = 20 + 2 * cycle * np.arange(1, k + 1) + rng.normal(0, 0.3, (n, k))
    if faults:
        for (a, b), jump in zip(FAULT_ROWS, (8.0, 3.0, -8.0), strict=True):
            values[a:b] += jump
    values = values.round(2)
    ts.setflags(write=False)
    values.setflags(write=False)
    return ts, values if k > 1 else values[:, 0]


@cache
def fitted(name: str, k: int = 1, seed: int = 0) -> Detector:
    """A detector fitted on the training rows (cached: fitting forests is the slow part)."""
    ts, values = series(k)
    metrics = METRICS[:k]
    return SPECS[name].create(seed=seed, metrics=metrics).fit(ts[:N_TRAIN], values[:N_TRAIN])


def run(
    detector: Detector, ts: np.ndarray, values: np.ndarray, start: int = N_TRAIN
) -> list[Scored]:
    """Prime a state with rows before `start` and score the rest."""
    state = detector.prime(ts[:start], values[:start])
    return [
        state.update(int(t), _reading(v)) for t, v in zip(ts[start:], values[start:], strict=True)
    ]


def _reading(v: Any) -> float | list[float]:
    return float(v) if np.ndim(v) == 0 else [float(x) for x in v]


def scores(results: Sequence[Scored]) -> list[float]:
    """The scores of a run."""
    return [r.score for r in results]


@pytest.fixture(params=sorted(SPECS))
def spec(request: pytest.FixtureRequest) -> AlgorithmSpec:
    """Every registered algorithm."""
    return SPECS[request.param]


def test_constructor_is_keyword_only_and_stores_params_only(spec: AlgorithmSpec) -> None:
    detector = spec.create()
    signature = list(inspect.signature(type(detector).__init__).parameters.values())[1:]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in signature)
    assert not [a for a in vars(detector) if a.endswith("_")]
    params = detector.params()
    assert {"seed", "metrics"} <= set(params)
    assert spec.create(**json.loads(json.dumps(params))).params() == params


def test_learned_state_ends_in_underscore(spec: AlgorithmSpec) -> None:
    ts, values = series()
    detector = spec.create()
    before = set(vars(detector))
    detector.fit(ts[:N_TRAIN], values[:N_TRAIN])
    assert all(name.endswith("_") for name in set(vars(detector)) - before)
    assert np.isfinite(detector.threshold_)


def test_scores_are_finite_in_unit_interval(spec: AlgorithmSpec) -> None:
    ts, values = series(faults=True)
    results = run(fitted(spec.name), ts, values)
    assert all(0.0 <= s <= 1.0 and np.isfinite(s) for s in scores(results))


def test_warming_up_only_until_the_history_is_long_enough(spec: AlgorithmSpec) -> None:
    ts, values = series()
    cold = run(fitted(spec.name), ts, values, start=0)[:N_TRAIN]
    flags = [r.warming_up for r in cold]
    assert flags == sorted(flags, reverse=True), "warming up must be a prefix"
    assert not flags[-1]
    assert not any(decide(r, fitted(spec.name).threshold_) for r in cold if r.warming_up)
    assert not any(r.warming_up for r in run(fitted(spec.name), ts, values))


def test_inputs_are_not_modified(spec: AlgorithmSpec) -> None:
    cached_ts, cached_values = series(faults=True)
    ts, values = cached_ts.copy(), cached_values.copy()  # writable, unlike the cached ones
    detector = spec.create().fit(ts[:N_TRAIN], values[:N_TRAIN])
    run(detector, ts, values)
    np.testing.assert_array_equal(ts, cached_ts)
    np.testing.assert_array_equal(values, cached_values)


def test_same_seed_same_scores(spec: AlgorithmSpec) -> None:
    ts, values = series(faults=True)
    again = spec.create(seed=0, metrics=METRICS[:1]).fit(ts[:N_TRAIN], values[:N_TRAIN])
    assert scores(run(again, ts, values)) == scores(run(fitted(spec.name), ts, values))


def test_arrays_round_trip_gives_identical_scores(spec: AlgorithmSpec) -> None:
    ts, values = series(faults=True)
    detector = fitted(spec.name)
    arrays = detector.to_arrays()
    assert all(np.asarray(a).dtype != object for a in arrays.values())
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as stored:
        loaded = spec.load(dict(stored), json.loads(json.dumps(detector.params())))
    assert loaded.threshold_ == detector.threshold_
    assert scores(run(loaded, ts, values)) == scores(run(detector, ts, values))


def test_no_look_ahead(spec: AlgorithmSpec) -> None:
    ts, values = series(faults=True)
    m = 120
    short = run(fitted(spec.name), ts[: N_TRAIN + m], values[: N_TRAIN + m])
    assert scores(short) == scores(run(fitted(spec.name), ts, values)[:m])


def test_beats_random_on_labelled_series(spec: AlgorithmSpec) -> None:
    ts, values = series(faults=True)
    s = np.array(scores(run(fitted(spec.name), ts, values)))
    labels = np.zeros(len(s), dtype=bool)
    for a, b in FAULT_ROWS:
        labels[a - N_TRAIN : b - N_TRAIN] = True
    assert _auc(s, labels) > 0.6


def _auc(s: np.ndarray, labels: np.ndarray) -> float:
    """Probability that an anomalous row outscores a normal one (ties count half)."""
    pos, neg = s[labels], s[~labels]
    greater = (pos[:, None] > neg[None, :]).mean()
    return float(greater + 0.5 * (pos[:, None] == neg[None, :]).mean())


def test_explanation_names_the_metric(spec: AlgorithmSpec) -> None:
    ts, values = series(faults=True)
    detector = fitted(spec.name)
    state = detector.prime(ts[:N_TRAIN], values[:N_TRAIN])
    for t, v in zip(
        ts[N_TRAIN : FAULT_ROWS[0][0] + 1], values[N_TRAIN : FAULT_ROWS[0][0] + 1], strict=True
    ):
        state.update(int(t), float(v))
    explanation = state.explain()
    assert explanation.summary and "temperature" in explanation.summary
    assert explanation.metrics[0] == "temperature"


def test_multivariate_explanation_names_the_deviating_metric(spec: AlgorithmSpec) -> None:
    if not spec.multivariate:
        pytest.skip(f"{spec.name} is univariate")
    ts, values = series(k=3)
    detector = fitted(spec.name, k=3)
    state = detector.prime(ts[:N_TRAIN], values[:N_TRAIN])
    reading = values[N_TRAIN].copy()
    reading[1] += 40.0  # humidity leaves everything it has seen
    scored = state.update(int(ts[N_TRAIN]), [float(x) for x in reading])
    assert 0.0 <= scored.score <= 1.0
    explanation = state.explain()
    assert explanation.metrics[0] == "humidity"
    assert "humidity" in explanation.summary
