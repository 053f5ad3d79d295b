"""Compiled isolation-forest scorers: a step table for one feature, tree walks for several."""

from __future__ import annotations

import itertools
import math
import struct
from bisect import bisect_left

import numpy as np
import numpy.typing as npt

from forewarn.detection.flat_forest import F32Array, F64Array, FlatForest, IntpArray

# Rows per traversal chunk: bounds the (n_trees, rows) index arrays to a few MB.
_CHUNK_ROWS = 1024
_FLOAT32 = struct.Struct("f")


def finish_scores(path_sums: F64Array, denominator: float) -> F64Array:
    """Turn summed path lengths into anomaly scores 2^(-E[h]/c(n)), as scikit-learn does."""
    # scikit-learn divides into a ones-filled buffer so a zero denominator (one training
    # sample) cannot produce NaN; keep that quirk to stay bit-identical.
    ratio = np.divide(path_sums, denominator, out=np.ones_like(path_sums), where=denominator != 0)
    scores: F64Array = 2 ** (-ratio)
    return scores


def walk(forest: FlatForest, node: IntpArray, rows: F32Array, row: IntpArray) -> IntpArray:
    """Leaf reached by each walker, starting at `node` and reading row `row` of `rows`."""
    flat = rows.ravel()
    base = row * rows.shape[1]
    check_nan = bool(np.isnan(flat).any())
    for _ in range(forest.max_depth):
        value = flat[base + forest.feature[node]]
        go_right = value > forest.threshold[node]
        if check_nan:
            # NaN compares false both ways; scikit-learn routes it by nan_left instead.
            go_right = np.where(np.isnan(value), ~forest.nan_left[node], go_right)
        node = forest.children[2 * node + go_right]
    return node


def path_sums(forest: FlatForest, rows: F32Array) -> F64Array:
    """Sum of path lengths over trees, added tree by tree in forest order."""
    sums = np.zeros(len(rows))
    for start in range(0, len(rows), _CHUNK_ROWS):
        chunk = rows[start : start + _CHUNK_ROWS]
        row = np.arange(len(chunk), dtype=np.intp)[np.newaxis, :]
        node = np.repeat(forest.roots[:, np.newaxis], len(chunk), axis=1)
        per_tree = forest.leaf_value[walk(forest, node, chunk, row)]
        target = sums[start : start + _CHUNK_ROWS]
        # One tree at a time keeps scikit-learn's rounding, unlike numpy's pairwise sum.
        for lengths in per_tree:
            target += lengths
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
        self.thresholds: F32Array = np.unique(forest.threshold[_internal(forest)])
        probes = np.concatenate([self.thresholds, np.array([np.inf], np.float32)])
        self.table: F64Array = finish_scores(_step_sums(forest, probes), forest.denominator)
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


def _internal(forest: FlatForest) -> npt.NDArray[np.bool_]:
    is_internal: npt.NDArray[np.bool_] = forest.children[0::2] != np.arange(len(forest.feature))
    return is_internal


def _step_sums(forest: FlatForest, probes: F32Array) -> F64Array:
    """Path sums at each probe and at NaN, tree by tree, via each tree's own steps."""
    steps, values = _tree_steps(forest)
    sums = np.zeros(len(probes) + 1)
    for tree_steps, tree_values in zip(steps, values, strict=True):
        # A probe falls in the same tree interval as that interval's own representative.
        local = np.searchsorted(tree_steps, probes, side="left")
        sums += tree_values[np.append(local, len(tree_values) - 1)]
    return sums


def _tree_steps(forest: FlatForest) -> tuple[list[F32Array], list[F64Array]]:
    """Per tree: its sorted thresholds, and path lengths per interval, then +inf and NaN."""
    value, tree = _tree_probes(forest)
    walker = np.arange(len(value), dtype=np.intp)
    leaf = walk(forest, forest.roots[tree], value[:, np.newaxis], walker)
    bounds = np.searchsorted(tree, np.arange(len(forest.roots) + 1)).tolist()
    spans = list(itertools.pairwise(bounds))
    return [value[a : b - 2] for a, b in spans], [forest.leaf_value[leaf[a:b]] for a, b in spans]


def _tree_probes(forest: FlatForest) -> tuple[F32Array, IntpArray]:
    """Each tree's unique thresholds in order, then +inf and NaN, grouped by tree."""
    n_trees = len(forest.roots)
    tree_of_node = np.searchsorted(forest.roots, np.arange(len(forest.feature)), "right") - 1
    internal = _internal(forest)
    value = np.concatenate(
        [forest.threshold[internal], np.full(n_trees, np.inf), np.full(n_trees, np.nan)]
    ).astype(np.float32)
    tree = np.concatenate([tree_of_node[internal], np.arange(n_trees), np.arange(n_trees)])
    order = np.lexsort((value, tree))  # NaN sorts last within each tree
    value, tree = value[order], tree[order]
    keep = np.ones(len(value), dtype=bool)
    keep[1:] = (tree[1:] != tree[:-1]) | (value[1:] != value[:-1])
    return value[keep], tree[keep]
