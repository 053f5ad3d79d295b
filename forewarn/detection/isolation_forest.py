"""Isolation Forest detector: fitted with scikit-learn, scored by a compiled exact scorer."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt

from forewarn.detection.flat_forest import (
    CompactForest,
    F32Array,
    F64Array,
    ForestFormatError,
    TreeNodes,
    decode_forest,
    encode_forest,
)
from forewarn.detection.forest_scorers import (
    StepScorer,
    TraversalScorer,
    compile_forest,
)
from forewarn.detection.params import get_params, known_params
from forewarn.errors import ForewarnError, InvalidInputError

FORMAT_VERSION = 1
_ARRAY_KEYS = ("feature", "threshold", "leaf_samples", "node_counts")
_SCALAR_KEYS = ("max_samples", "n_features", "decision_threshold", "n_samples_fit")


class NotFittedError(ForewarnError, RuntimeError):
    """Raised when a detector is asked to score while still warming up (before fit)."""


class IsolationForestDetector:
    """Isolation Forest over one metric (1-D readings) or several (2-D readings).

    Scores are in (0, 1]; higher means more anomalous. A reading is anomalous when its
    score exceeds ``threshold_``, which reproduces scikit-learn's ``predict == -1``.

    Parameters
    ----------
    n_estimators : int
        Number of isolation trees.
    contamination : float or "auto"
        Expected share of anomalies in the training data; "auto" puts the threshold at 0.5.
    max_samples : int or "auto"
        Readings drawn to build each tree; "auto" means min(256, n_samples).
    seed : int
        Seed of the tree building.

    Examples
    --------
    >>> import numpy as np
    >>> readings = np.random.default_rng(0).normal(25.0, 1.0, size=500)
    >>> detector = IsolationForestDetector(n_estimators=50).fit(readings)
    >>> detector.is_anomaly(detector.score_one(45.0))
    True
    >>> detector.is_anomaly(detector.score_one(25.0))
    False

    It fails on anomalies that lie inside the normal range of values, such as a sensor
    stuck at a plausible reading, because it scores each reading without its history.
    """

    threshold_: float
    n_features_in_: int
    n_samples_fit_: int
    forest_: CompactForest
    scorer_: StepScorer | TraversalScorer

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        contamination: float | Literal["auto"] = "auto",
        max_samples: int | Literal["auto"] = "auto",
        seed: int = 0,
    ) -> None:
        """Store the parameters; nothing is learned until fit."""
        self.n_estimators = n_estimators
        self.contamination = contamination
        self.max_samples = max_samples
        self.seed = seed

    def params(self) -> dict[str, Any]:
        """Constructor parameters, JSON-serialisable."""
        return get_params(self)

    def fit(self, X: npt.ArrayLike) -> Self:
        """Learn the trees and the decision threshold from training readings."""
        self._check_params()
        rows = _training_rows(X)
        from sklearn.ensemble import IsolationForest  # slow import, needed only to train

        max_samples = self.max_samples
        if max_samples != "auto":
            max_samples = min(int(max_samples), len(rows))  # avoids sklearn's clamp warning
        model = IsolationForest(
            n_estimators=self.n_estimators,
            contamination=self.contamination,
            max_samples=max_samples,
            random_state=self.seed,
        ).fit(rows)
        trees = [_tree_nodes(estimator.tree_) for estimator in model.estimators_]
        forest = encode_forest(trees, max_samples=model.max_samples_, n_features=rows.shape[1])
        # Only the compact trees are kept: the sklearn model is several times larger.
        self._set_learned(forest, float(-model.offset_), len(rows))
        return self

    def score_many(self, X: npt.ArrayLike) -> F64Array:
        """Scores of many readings: 1-D values of one metric or rows of (n, n_features)."""
        scorer = self._fitted_scorer()
        return scorer.score_many(self._scoring_rows(X))

    def score_one(self, x: float | Sequence[float]) -> float:
        """Score of one reading: a number, or one value per feature."""
        scorer = self._fitted_scorer()
        if isinstance(scorer, StepScorer) and isinstance(x, float | int):
            return scorer.score_value(float(x))
        rows = self._scoring_rows(np.asarray(x).reshape(1, -1))
        return float(scorer.score_many(rows)[0])

    def is_anomaly(self, score: float) -> bool:
        """Whether a score lies above the decision threshold."""
        self._fitted_scorer()
        return score > self.threshold_

    def to_arrays(self) -> dict[str, np.ndarray[Any, Any]]:
        """The compact encoding of the fitted model, as named arrays."""
        self._fitted_scorer()
        forest = self.forest_
        return {
            "format_version": np.array(FORMAT_VERSION),
            "feature": forest.feature,
            "threshold": forest.threshold,
            "leaf_samples": forest.leaf_samples,
            "node_counts": forest.node_counts,
            "max_samples": np.array(forest.max_samples),
            "n_features": np.array(forest.n_features),
            "decision_threshold": np.array(self.threshold_),
            "n_samples_fit": np.array(self.n_samples_fit_),
        }

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray[Any, Any]], *, params: Mapping[str, Any] | None = None
    ) -> IsolationForestDetector:
        """A ready-to-score detector from `to_arrays` output (and optionally its `params`)."""
        _check_arrays(arrays)
        forest = CompactForest(
            feature=arrays["feature"],
            threshold=arrays["threshold"],
            leaf_samples=arrays["leaf_samples"],
            node_counts=arrays["node_counts"].astype(np.int32),
            max_samples=int(arrays["max_samples"]),
            n_features=int(arrays["n_features"]),
        )
        # Artifact meta may hold more than constructor params (e.g. the training window).
        detector = cls(**{"n_estimators": len(forest.node_counts), **known_params(cls, params)})
        threshold = float(arrays["decision_threshold"])
        detector._set_learned(forest, threshold, int(arrays["n_samples_fit"]))
        return detector

    def _set_learned(self, forest: CompactForest, threshold: float, n_samples: int) -> None:
        self.scorer_ = compile_forest(decode_forest(forest), forest.n_features)
        self.forest_ = forest
        self.threshold_ = threshold
        self.n_features_in_ = forest.n_features
        self.n_samples_fit_ = n_samples

    def _fitted_scorer(self) -> StepScorer | TraversalScorer:
        try:
            return self.scorer_
        except AttributeError:
            raise NotFittedError(
                "IsolationForestDetector is warming up: call fit() with training readings first"
            ) from None

    def _scoring_rows(self, X: npt.ArrayLike) -> F32Array:
        rows = _as_float32(X)
        if rows.ndim == 1 and self.n_features_in_ == 1:
            rows = rows.reshape(-1, 1)
        if rows.ndim != 2 or rows.shape[1] != self.n_features_in_:
            raise InvalidInputError(
                ["readings"],
                f"expected shape (n, {self.n_features_in_}), got {np.shape(X)}",
            )
        return rows

    def _check_params(self) -> None:
        if not isinstance(self.n_estimators, numbers.Integral) or self.n_estimators < 1:
            raise InvalidInputError(["n_estimators"], "must be a positive integer")
        c = self.contamination
        if c != "auto" and not (isinstance(c, numbers.Real) and 0.0 < c <= 0.5):
            raise InvalidInputError(["contamination"], 'must be "auto" or in (0, 0.5]')
        m = self.max_samples
        if m != "auto" and not (isinstance(m, numbers.Integral) and m >= 1):
            raise InvalidInputError(["max_samples"], 'must be "auto" or a positive integer')
        if not isinstance(self.seed, numbers.Integral):
            raise InvalidInputError(["seed"], "must be an integer")


def _as_float32(X: npt.ArrayLike) -> F32Array:
    # The trees compare float32 values, as scikit-learn casts; overflow becomes +/-inf.
    try:
        with np.errstate(over="ignore"):
            return np.asarray(X).astype(np.float32, copy=False)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(["readings"], f"readings must be numbers: {err}") from err


def _training_rows(X: npt.ArrayLike) -> F32Array:
    rows = _as_float32(X)
    if rows.ndim == 1:
        rows = rows.reshape(-1, 1)
    if rows.ndim != 2 or rows.shape[0] < 2 or rows.shape[1] < 1:
        raise InvalidInputError(["readings"], "need at least 2 readings, as 1-D or 2-D array")
    if not np.isfinite(rows).all():
        raise InvalidInputError(["readings"], "training readings must be finite float32 values")
    return rows


def _tree_nodes(tree: Any) -> TreeNodes:
    return TreeNodes(
        children_left=tree.children_left,
        children_right=tree.children_right,
        feature=tree.feature,
        threshold=tree.threshold,
        n_node_samples=tree.n_node_samples,
    )


def _check_arrays(arrays: Mapping[str, np.ndarray[Any, Any]]) -> None:
    missing = [k for k in ("format_version", *_ARRAY_KEYS, *_SCALAR_KEYS) if k not in arrays]
    if missing:
        raise ForestFormatError(f"model arrays lack {', '.join(missing)}")
    if int(arrays["format_version"]) != FORMAT_VERSION:
        raise ForestFormatError(f"unsupported model format {int(arrays['format_version'])}")
    if any(np.ndim(arrays[k]) != 0 for k in _SCALAR_KEYS):
        raise ForestFormatError(f"{', '.join(_SCALAR_KEYS)} must be scalars")
