"""Compact preorder encoding of isolation trees, and its decoding into flat node arrays."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from forewarn.errors import ForewarnError

F32Array = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]
IntpArray = npt.NDArray[np.intp]

LEAF = -1


class ForestFormatError(ForewarnError, ValueError):
    """Raised when a compact forest encoding is malformed or inconsistent."""


@dataclass(frozen=True, slots=True)
class TreeNodes:
    """One fitted tree as scikit-learn exposes it: node arrays indexed by node id."""

    children_left: npt.NDArray[np.integer[Any]]
    children_right: npt.NDArray[np.integer[Any]]
    feature: npt.NDArray[np.integer[Any]]
    threshold: F64Array
    n_node_samples: npt.NDArray[np.integer[Any]]


@dataclass(frozen=True, slots=True)
class CompactForest:
    """Trees in preorder with the fewest bytes that keep every decision: what artifacts store."""

    feature: npt.NDArray[np.signedinteger[Any]]
    threshold: F32Array
    leaf_samples: npt.NDArray[np.unsignedinteger[Any]]
    node_counts: npt.NDArray[np.int32]
    max_samples: int
    n_features: int


@dataclass(frozen=True, slots=True)
class FlatForest:
    """All trees in shared node arrays; leaves point to themselves so walks need no masks."""

    children: IntpArray  # interleaved: left of node i at 2i, right at 2i + 1
    feature: IntpArray
    threshold: F32Array
    nan_left: npt.NDArray[np.bool_]
    leaf_value: F64Array
    roots: IntpArray
    max_depth: int
    denominator: float

    @property
    def nbytes(self) -> int:
        """Bytes held by the node arrays."""
        arrays = (self.children, self.feature, self.threshold, self.nan_left)
        return sum(a.nbytes for a in arrays) + self.leaf_value.nbytes + self.roots.nbytes


def average_path_length(n_samples: npt.ArrayLike) -> F64Array:
    """Expected path length c(n) of an unsuccessful search in a binary tree of n samples."""
    # Same expression and operation order as scikit-learn, so results match bit for bit.
    n = np.asarray(n_samples, dtype=np.int64)
    out = np.zeros(n.shape)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def floor_to_float32(values: F64Array) -> F32Array:
    """Largest float32 <= each value: `x32 <= floor` decides exactly like `x32 <= value`."""
    down = values.astype(np.float32)
    too_high = down.astype(np.float64) > values
    down[too_high] = np.nextafter(down[too_high], np.float32(-np.inf))
    return down


def encode_forest(
    trees: Sequence[TreeNodes], *, max_samples: int, n_features: int
) -> CompactForest:
    """Encode fitted trees in preorder with narrow dtypes."""
    parts = [_encode_tree(tree) for tree in trees]
    feature_dtype = np.int8 if n_features < 127 else np.int16 if n_features < 32767 else np.int32
    samples_dtype = np.uint16 if max_samples <= np.iinfo(np.uint16).max else np.uint32
    return CompactForest(
        feature=np.concatenate([p[0] for p in parts]).astype(feature_dtype),
        threshold=np.concatenate([p[1] for p in parts]),
        leaf_samples=np.concatenate([p[2] for p in parts]).astype(samples_dtype),
        node_counts=np.array([len(p[0]) for p in parts], dtype=np.int32),
        max_samples=int(max_samples),
        n_features=int(n_features),
    )


def _encode_tree(tree: TreeNodes) -> tuple[IntpArray, F32Array, IntpArray]:
    order = _preorder(tree.children_left.tolist(), tree.children_right.tolist())
    is_leaf = tree.children_left[order] < 0
    feature = np.where(is_leaf, LEAF, tree.feature[order]).astype(np.intp)
    threshold = floor_to_float32(tree.threshold[order][~is_leaf].astype(np.float64))
    return feature, threshold, tree.n_node_samples[order][is_leaf].astype(np.intp)


def _preorder(left: list[int], right: list[int]) -> IntpArray:
    order: list[int] = []
    stack = [0]
    while stack:
        node = stack.pop()
        order.append(node)
        if left[node] >= 0:
            stack.extend((right[node], left[node]))
    return np.array(order, dtype=np.intp)


def decode_forest(compact: CompactForest) -> FlatForest:
    """Rebuild children, depths and leaf values from a compact encoding."""
    _check_compact(compact)
    is_internal = (compact.feature != LEAF).tolist()
    n_nodes = len(is_internal)
    left, right, depth = list(range(n_nodes)), list(range(n_nodes)), [1] * n_nodes
    bounds = np.concatenate([[0], np.cumsum(compact.node_counts)]).tolist()
    for tree, (start, stop) in enumerate(itertools.pairwise(bounds)):
        _link_tree(is_internal, start, stop, (left, right, depth), tree)
    leaves = ~np.asarray(is_internal, dtype=bool)
    samples = np.zeros(n_nodes, dtype=np.int64)
    samples[leaves] = compact.leaf_samples
    _sum_subtree_samples(is_internal, left, right, samples)
    return _assemble(compact, leaves, (left, right, depth), samples, bounds[:-1])


def _link_tree(
    is_internal: list[bool],
    start: int,
    stop: int,
    links: tuple[list[int], list[int], list[int]],
    tree: int,
) -> None:
    # Preorder: a node after an internal node is its left child, a node after a leaf is
    # the right child of the deepest ancestor still waiting for one.
    left, right, depth = links
    waiting: list[int] = []
    for node in range(start, stop):
        if node > start:
            if is_internal[node - 1]:
                parent = node - 1
                left[parent] = node
            elif waiting:
                parent = waiting.pop()
                right[parent] = node
            else:
                raise ForestFormatError(f"tree {tree} has nodes after its last leaf")
            depth[node] = depth[parent] + 1
        if is_internal[node]:
            waiting.append(node)
    if waiting:
        raise ForestFormatError(f"tree {tree} ends before all its branches have leaves")


def _sum_subtree_samples(
    is_internal: list[bool], left: list[int], right: list[int], samples: npt.NDArray[np.int64]
) -> None:
    counts = samples.tolist()
    # Children come after their parent in preorder, so one backwards pass suffices.
    for node in range(len(counts) - 1, -1, -1):
        if is_internal[node]:
            counts[node] = counts[left[node]] + counts[right[node]]
    samples[:] = counts


def _assemble(
    compact: CompactForest,
    leaves: npt.NDArray[np.bool_],
    links: tuple[list[int], list[int], list[int]],
    samples: npt.NDArray[np.int64],
    roots: list[int],
) -> FlatForest:
    left, right, depth = (np.array(a, dtype=np.intp) for a in links)
    threshold = np.zeros(len(leaves), dtype=np.float32)
    threshold[~leaves] = compact.threshold
    leaf_value = np.zeros(len(leaves))
    # Same terms and order as scikit-learn: depth + c(n) - 1, with the root at depth 1.
    leaf_value[leaves] = depth[leaves] + average_path_length(samples[leaves]) - 1.0
    n_trees = len(compact.node_counts)
    return FlatForest(
        children=np.stack([left, right], axis=1).ravel(),
        feature=np.where(leaves, 0, compact.feature).astype(np.intp),
        threshold=threshold,
        # Trees fitted without NaN send a missing value to the child that saw more samples.
        nan_left=~leaves & (samples[left] > samples[right]),
        leaf_value=leaf_value,
        roots=np.array(roots, dtype=np.intp),
        max_depth=int(depth.max()) - 1,
        denominator=float(n_trees * average_path_length([compact.max_samples])[0]),
    )


def _check_compact(compact: CompactForest) -> None:
    counts, feature = compact.node_counts, compact.feature
    if compact.threshold.dtype != np.float32 or feature.dtype.kind != "i":
        raise ForestFormatError("threshold must be float32 and feature a signed integer array")
    if compact.leaf_samples.dtype.kind != "u" or compact.leaf_samples.min(initial=1) < 1:
        raise ForestFormatError("leaf_samples must be positive unsigned integers")
    n_internal = int(np.count_nonzero(feature != LEAF))
    if len(counts) == 0 or counts.min() < 1 or int(counts.sum()) != len(feature):
        raise ForestFormatError("node_counts must be positive and add up to the node count")
    if n_internal != len(compact.threshold) or len(feature) - n_internal != len(
        compact.leaf_samples
    ):
        raise ForestFormatError("threshold and leaf_samples do not match the tree shapes")
    if feature.min() < LEAF or feature.max() >= compact.n_features:
        raise ForestFormatError(f"feature indices must be below n_features={compact.n_features}")
    if not np.isfinite(compact.threshold).all() or min(compact.max_samples, compact.n_features) < 1:
        raise ForestFormatError("thresholds must be finite, max_samples and n_features positive")
