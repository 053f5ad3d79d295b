"""Isolation Forest detector: exact agreement with scikit-learn, thresholds, round trips."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from forewarn.detection import isolation_forest
from forewarn.detection.flat_forest import ForestFormatError, floor_to_float32
from forewarn.detection.isolation_forest import IsolationForestDetector, NotFittedError
from forewarn.errors import InvalidInputError

ODD_VALUES = [np.nan, np.inf, -np.inf, 1e300, -1e300, 0.0, 45.0, -45.0, 1e6]


def _fit_pair(X: np.ndarray, **params: Any) -> tuple[IsolationForestDetector, IsolationForest]:
    detector = IsolationForestDetector(**params).fit(X)
    p = detector.params()
    reference = IsolationForest(
        n_estimators=p["n_estimators"],
        contamination=p["contamination"],
        max_samples=p["max_samples"],
        random_state=p["seed"],
    ).fit(X.reshape(len(X), -1))
    return detector, reference


def _queries(rng: np.random.Generator, train: np.ndarray, n: int = 3000) -> np.ndarray:
    """Readings inside, around and far outside the training range, plus training values."""
    spread = rng.normal(train.mean(), 3 * train.std() + 1e-3, size=n)
    return np.concatenate([spread, train[:200], ODD_VALUES])


@pytest.mark.parametrize(
    ("name", "n", "params"),
    [
        ("normal", 1000, {}),
        ("duplicates", 1000, {"contamination": 0.1}),
        ("tiny", 10, {}),
        ("small-forest", 300, {"n_estimators": 7, "max_samples": 64, "seed": 5}),
    ],
)
def test_one_feature_scores_equal_sklearn(name: str, n: int, params: dict[str, Any]) -> None:
    rng = np.random.default_rng(len(name))
    train = rng.normal(25.0, 1.5, size=n)
    if name == "duplicates":
        train = train.round(1)
    detector, reference = _fit_pair(train, **params)
    queries = _queries(rng, train)
    with np.errstate(over="ignore"):  # 1e300 overflows float32, as in our scorer
        expected = -reference.score_samples(queries.reshape(-1, 1))

    np.testing.assert_array_equal(detector.score_many(queries), expected)
    one_by_one = [detector.score_one(float(v)) for v in queries[::7]]
    np.testing.assert_array_equal(one_by_one, expected[::7])
    assert detector.threshold_ == -reference.offset_


@pytest.mark.parametrize("n", [600, 10])
def test_two_feature_scores_equal_sklearn(n: int) -> None:
    rng = np.random.default_rng(2)
    train = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1]
    detector, reference = _fit_pair(train, contamination=0.05, seed=3)
    queries = rng.normal(size=(5000, 3)) * [3.0, 30.0, 0.3]
    queries[:9, 1] = ODD_VALUES
    with np.errstate(over="ignore"):  # 1e300 overflows float32, as in our scorer
        expected = -reference.score_samples(queries)

    np.testing.assert_array_equal(detector.score_many(queries), expected)
    assert detector.score_one(list(queries[10])) == expected[10]


@pytest.mark.parametrize("contamination", ["auto", 0.02, 0.2])
def test_threshold_reproduces_sklearn_predict(contamination: float | str) -> None:
    rng = np.random.default_rng(7)
    train = np.concatenate([rng.normal(25.0, 1.0, 950), rng.uniform(10, 40, 50)])
    detector, reference = _fit_pair(train, contamination=contamination)
    mixed = np.concatenate([rng.normal(25.0, 1.0, 500), rng.uniform(0, 50, 500)])

    flagged = detector.score_many(mixed) > detector.threshold_
    np.testing.assert_array_equal(flagged, reference.predict(mixed.reshape(-1, 1)) == -1)
    assert 0.0 < detector.threshold_ < 1.0


def test_far_out_temperature_is_anomalous_and_typical_is_not() -> None:
    rng = np.random.default_rng(11)
    temperatures = np.clip(rng.normal(25.5, 1.2, size=2000), 22.0, 29.0).round(1)
    detector = IsolationForestDetector(seed=1).fit(temperatures)

    assert detector.is_anomaly(detector.score_one(45.0))
    assert not detector.is_anomaly(detector.score_one(25.5))


def test_round_trip_through_arrays_keeps_scores_and_params() -> None:
    rng = np.random.default_rng(3)
    for train, queries in [
        (rng.normal(size=400), rng.normal(0, 3, 2000)),
        (rng.normal(size=(400, 2)), rng.normal(0, 3, (2000, 2))),
    ]:
        detector = IsolationForestDetector(n_estimators=30, contamination=0.1, seed=9).fit(train)
        params = json.loads(json.dumps(detector.params()))
        loaded = IsolationForestDetector.from_arrays(detector.to_arrays(), params=params)

        np.testing.assert_array_equal(loaded.score_many(queries), detector.score_many(queries))
        assert loaded.params() == detector.params()
        assert (loaded.threshold_, loaded.n_samples_fit_) == (detector.threshold_, 400)
        assert loaded.n_features_in_ == detector.n_features_in_ == np.ndim(train)


def test_compact_encoding_uses_narrow_dtypes_and_float32_floors() -> None:
    arrays = IsolationForestDetector(n_estimators=10).fit(np.arange(100.0)).to_arrays()
    assert arrays["feature"].dtype == np.int8
    assert arrays["threshold"].dtype == np.float32
    assert arrays["leaf_samples"].dtype == np.uint16
    assert int(arrays["node_counts"].sum()) == len(arrays["feature"])

    values = np.random.default_rng(0).normal(0, 100, 10_000)
    floors = floor_to_float32(values)
    assert (floors <= values).all()
    assert (np.nextafter(floors, np.float32(np.inf)).astype(np.float64) > values).all()


@pytest.mark.slow
def test_scoring_a_loaded_model_never_imports_sklearn(tmp_path: Path) -> None:
    detector = IsolationForestDetector(n_estimators=5).fit(np.arange(50.0))
    np.savez(tmp_path / "model.npz", **detector.to_arrays())
    script = (
        "import sys, numpy as np\n"
        "from forewarn.detection.isolation_forest import IsolationForestDetector as D\n"
        f"d = D.from_arrays(dict(np.load({str(tmp_path / 'model.npz')!r})))\n"
        "print(d.score_one(3.0), d.score_many([1.0, 2.0])[0])\n"
        "assert not any(m.startswith('sklearn') for m in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split()[0]) == detector.score_one(3.0)


def test_scoring_before_fit_says_it_is_warming_up() -> None:
    detector = IsolationForestDetector()
    for call in (
        lambda: detector.score_one(1.0),
        lambda: detector.score_many([1.0]),
        lambda: detector.is_anomaly(0.9),
        detector.to_arrays,
    ):
        with pytest.raises(NotFittedError, match="warming up"):
            call()


def test_fit_is_deterministic_and_leaves_input_untouched() -> None:
    train = np.random.default_rng(4).normal(size=300)
    before = train.copy()
    queries = np.linspace(-5, 5, 101)
    first = IsolationForestDetector(n_estimators=20, seed=1).fit(train).score_many(queries)
    again = IsolationForestDetector(n_estimators=20, seed=1).fit(train).score_many(queries)
    other = IsolationForestDetector(n_estimators=20, seed=2).fit(train).score_many(queries)

    np.testing.assert_array_equal(train, before)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    ("params", "readings", "field"),
    [
        ({}, [1.0, np.nan, 2.0], "readings"),
        ({}, [1.0], "readings"),
        ({}, np.zeros((2, 2, 2)), "readings"),
        ({}, ["warm", "hot"], "readings"),
        ({"n_estimators": 0}, [1.0, 2.0], "n_estimators"),
        ({"contamination": 0.7}, [1.0, 2.0], "contamination"),
        ({"max_samples": "all"}, [1.0, 2.0], "max_samples"),
    ],
)
def test_fit_rejects_bad_input_naming_the_field(
    params: dict[str, Any], readings: Any, field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        IsolationForestDetector(**params).fit(readings)
    assert caught.value.loc == (field,)


def test_scoring_rejects_wrong_shapes() -> None:
    one = IsolationForestDetector(n_estimators=5).fit(np.arange(20.0))
    two = IsolationForestDetector(n_estimators=5).fit(np.ones((20, 2)) * np.arange(20.0)[:, None])
    with pytest.raises(InvalidInputError, match=r"\(n, 1\)"):
        one.score_many(np.zeros((3, 2)))
    with pytest.raises(InvalidInputError, match=r"\(n, 2\)"):
        two.score_one(1.0)
    with pytest.raises(InvalidInputError):
        two.score_many(np.zeros(4))


def test_from_arrays_rejects_malformed_encodings() -> None:
    arrays = IsolationForestDetector(n_estimators=5).fit(np.arange(50.0)).to_arrays()
    with pytest.raises(ForestFormatError, match="lack threshold"):
        IsolationForestDetector.from_arrays({k: v for k, v in arrays.items() if k != "threshold"})
    with pytest.raises(ForestFormatError):
        IsolationForestDetector.from_arrays({**arrays, "feature": arrays["feature"][:-1]})
    with pytest.raises(ForestFormatError, match="float32"):
        IsolationForestDetector.from_arrays(
            {**arrays, "threshold": arrays["threshold"].astype(np.float64)}
        )


def test_docstring_example_runs() -> None:
    result = doctest.testmod(isolation_forest, raise_on_error=False)
    assert result.attempted > 0
    assert result.failed == 0
