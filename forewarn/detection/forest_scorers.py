"""Compiled isolation-forest scorers: a step table for one feature, tree walks for several."""

from __future__ import annotations

import math
import struct
from bisect import bisect_left

import numpy as np
import numpy.typing as npt

from forewarn.detection.flat_forest import F32Array, F64Array, FlatForest

# Rows per traversal chunk: bounds the (n_trees, rows) index arrays to a few MB.
_CHUNK_ROWS = 4096
_FLOAT32 = struct.Struct("f")


def finish_scores(path_sums: F64Array, denominator: float) -> F64Array:
    """Turn summed path lengths into anomaly scores 2^(-E[h]/c(n)), as scikit-learn does."""
    # scikit-learn divides into a ones-filled buffer so a zero denominator (one training
    # sample) cannot produce NaN; keep that quirk to stay bit-identical.
    ratio = np.divide(path_sums, denominator, out=np.ones_like(path_sums), where=denominator != 0)
    scores: F64Array = 2 ** (-ratio)
    return scores


def tree_path_lengths(forest: FlatForest, rows: F32Array) -> F64Array:
    """Path length of every row in every tree, shape (n_trees, n_rows)."""
    n_rows, n_features = rows.shape
    flat = rows.ravel()
    row_base = (np.arange(n_rows, dtype=np.intp) * n_features)[np.newaxis, :]
    node = np.repeat(forest.roots[:, np.newaxis], n_rows, axis=1)
    check_nan = bool(np.isnan(flat).any())
    for _ in range(forest.max_depth):
        value = flat[row_base + forest.feature[node]]
        go_left = value <= forest.threshold[node]
        if check_nan:
            go_left |= np.isnan(value) & forest.nan_left[node]
        node = np.where(go_left, forest.left[node], forest.right[node])
    return forest.leaf_value[node]


def path_sums(forest: FlatForest, rows: F32Array) -> F64Array:
    """Sum of path lengths over trees, added tree by tree in forest order."""
    sums = np.zeros(len(rows))
    for start in range(0, len(rows), _CHUNK_ROWS):
        chunk = sums[start : start + _CHUNK_ROWS]
        # Summing one tree at a time keeps scikit-learn's rounding, unlike a pairwise sum.
        for per_tree in tree_path_lengths(forest, rows[start : start + _CHUNK_ROWS]):
            chunk += per_tree
    return sums


class TraversalScorer:
    """Scores multi-feature rows by walking all trees level by level with numpy."""

    def __init__(self, forest: FlatForest) -> None:
        """Keep the decoded forest."""
        self._forest = forest

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays used for scoring."""
        return self._forest.nbytes

    def score_many(self, rows: F32Array) -> F64Array:
        """Scores of float32 rows, shape (n_rows, n_features)."""
        return finish_scores(path_sums(self._forest, rows), self._forest.denominator)


class StepScorer:
    """One-feature forest compiled to a step function: sorted thresholds -> score table.

    Interval i is (T[i-1], T[i]] because `x <= threshold` goes left; every float32 in it
    takes the same branch at every node as T[i] itself, so T[i] stands for the interval.
    The last interval stands for values above every threshold, one more slot for NaN.
    """

    def __init__(self, forest: FlatForest) -> None:
        """Compile the forest into thresholds and per-interval scores."""
        internal = forest.left != np.arange(len(forest.left))
        self.thresholds: F32Array = np.unique(forest.threshold[internal])
        probes = np.concatenate([self.thresholds, np.array([np.inf, np.nan], np.float32)])
        sums = path_sums(forest, probes[:, np.newaxis])
        self.table: F64Array = finish_scores(sums, forest.denominator)
        self._nan_index = len(self.table) - 1
        # Zero-copy sequence views: bisect and indexing return Python floats directly.
        self._threshold_view = self.thresholds.data
        self._table_view = self.table.data

    @property
    def nbytes(self) -> int:
        """Bytes of the threshold and score arrays."""
        return self.thresholds.nbytes + self.table.nbytes

    def score_many(self, rows: F32Array) -> F64Array:
        """Scores of float32 rows, shape (n_rows, 1)."""
        values = rows[:, 0]
        index = np.searchsorted(self.thresholds, values, side="left")
        nan = np.isnan(values)
        if nan.any():
            index[nan] = self._nan_index
        scored: F64Array = self.table[index]
        return scored

    def score_value(self, value: float) -> float:
        """Score of one reading, rounded to float32 first as the trees were."""
        try:
            value = _FLOAT32.unpack(_FLOAT32.pack(value))[0]
        except OverflowError:
            value = math.copysign(math.inf, value)
        if value != value:
            return float(self._table_view[self._nan_index])
        return float(self._table_view[bisect_left(self._threshold_view, value)])


def compile_forest(forest: FlatForest, n_features: int) -> StepScorer | TraversalScorer:
    """The fastest exact scorer for the forest."""
    return StepScorer(forest) if n_features == 1 else TraversalScorer(forest)


def as_float32(values: npt.ArrayLike) -> F32Array:
    """Cast readings to float32 like scikit-learn: overflow becomes +/-inf silently."""
    with np.errstate(over="ignore"):
        return np.asarray(values).astype(np.float32, copy=False)
