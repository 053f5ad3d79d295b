"""Level bins: a metric's training range cut into equal-width bins, each costed by how far
out its level lies (the rare-level member's table, `rare_level.py`).

The range is cut into Freedman-Diaconis bins (at most the square-root rule's count, so a bin
expects at least sqrt(n) readings), plus one bin below and one above it. A bin's cost is the
two-sided tail probability of its level, ``min(1, 2 min(F, 1 - F))`` with F counted by the
rule of succession, in decades, kept as integer micro-decades so that sums of costs are exact.
"""

from __future__ import annotations

import math

import numpy as np

from forewarn.detection.base import F64Array, I64Array

WIDER = 1 + 2**-40  # bins this much wider than the range over their count
MICRO = 1_000_000  # costs are kept in micro-decades, as integers: running sums stay exact


def bin_count(x: F64Array) -> int:
    """Freedman-Diaconis bins over the range of x, at most ceil(sqrt(n)), at least 1."""
    span = float(x.max()) - float(x.min())
    if span <= 0:
        return 1
    q75, q25 = np.quantile(x, [0.75, 0.25])
    iqr = float(q75 - q25)
    bins = span * len(x) ** (1 / 3) / (2 * iqr) if iqr > 0 else math.inf
    most = math.ceil(math.sqrt(len(x)))
    return max(1, min(math.ceil(bins), most)) if math.isfinite(bins) else most


def level_costs(x: F64Array) -> tuple[float, float, I64Array]:
    """Lowest edge, bin width and the cost in micro-decades of each bin, with one more
    below and one more above the range (levels never seen in training)."""
    bins = bin_count(x)
    low, high = float(x.min()), float(x.max())
    # A flat history saw one value: any other is beyond it. Dividing before subtracting keeps
    # the width of a range from -1e308 to 1e308 finite; a hair wider, the maximum bins inside.
    width = (high / bins - low / bins) * WIDER if high > low else math.ulp(low)
    counts = np.bincount(bin_index(x, low, width, bins), minlength=bins + 2).astype(np.float64)
    below = np.cumsum(counts)  # readings at or below each bin, and at or above it
    above = len(x) - below + counts
    tail = np.minimum(below + 1.0, above + 1.0) / (len(x) + 2.0)
    decades = -np.log10(np.minimum(2 * tail, 1.0))
    return low, width, np.round(decades * MICRO).astype(np.int64)


def bin_index(x: F64Array, low: float, width: float, bins: int) -> I64Array:
    """The bin of each value, from 1; 0 below the range and bins + 1 above it."""
    with np.errstate(over="ignore"):  # a range near ±1e308: its outer edges round to ±inf
        q = (np.clip(x, low - width, low + (bins + 1) * width) - low) / width
    inside = np.minimum(np.floor(np.maximum(q, 0.0)), bins - 1) + 1
    return np.where(q < 0, 0, np.where(q > bins, bins + 1, inside)).astype(np.int64)


def cost_of(x: float, low: float, width: float, costs: list[int]) -> int:
    """The cost of one value, binned as `bin_index` bins it."""
    bins = len(costs) - 2
    q = (min(max(x, low - width), low + (bins + 1) * width) - low) / width
    return costs[0 if q < 0 else bins + 1 if q > bins else min(int(q), bins - 1) + 1]
