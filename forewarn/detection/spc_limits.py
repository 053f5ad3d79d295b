"""Control limits of PCA process control, from training rows the model did not see.

Each contiguous block of the training rows is scored by a model (scale and principal axes)
fitted on the other blocks, after the same EWMA smoothing the scoring state applies: in-sample
Q underestimates how a model does on new rows, and held-out blocks also carry the slow wander
inside the training window. The limit of each statistic is a high quantile of a scaled χ²
matched to those held-out values (`scaled_chi2_limit`).
"""

from __future__ import annotations

import numpy as np

from forewarn.detection.base import F64Array
from forewarn.detection.pca_stats import (
    autoscale,
    differences,
    principal_axes,
    scaled_chi2_limit,
    smoothed_rows,
    statistics,
)

MIN_FOLD_ROWS = 20  # fewer rows per held-out block: limits from the in-sample statistics


def smoothed_z(columns: F64Array, center: F64Array, scale: F64Array, alpha: float) -> F64Array:
    """The standardised rows, smoothed as a fresh scoring state smooths them."""
    return smoothed_rows((columns - center) / scale, alpha)


def scored_rows(
    columns: F64Array, center: F64Array, scale: F64Array, alpha: float, horizon: int
) -> F64Array:
    """The smoothed standardised rows, or their differences over `horizon` rows if any."""
    e = smoothed_z(columns, center, scale, alpha)
    return differences(e, horizon, []) if horizon else e


def held_out_statistics(
    columns: F64Array, share: float, kept: int, alpha: float, folds: int, horizon: int = 0
) -> tuple[F64Array, F64Array]:
    """T² and Q of each smoothed training row (or its difference over `horizon` rows) by a
    model that did not see its block."""
    if folds < 2 or len(columns) < folds * MIN_FOLD_ROWS:
        e = scored_rows(columns, *autoscale(columns), alpha, horizon)
        return statistics(e, *principal_axes(e, share, kept))
    parts: list[tuple[F64Array, F64Array]] = []
    for block in np.array_split(np.arange(len(columns)), folds):
        rest = np.delete(columns, block, axis=0)
        center, scale = autoscale(rest)
        axes = principal_axes(scored_rows(rest, center, scale, alpha, horizon), share, kept)
        rows = scored_rows(columns, center, scale, alpha, horizon)[block]
        parts.append(statistics(rows, *axes))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def control_limits(
    columns: F64Array,
    share: float,
    kept: int,
    smoothing: int,
    folds: int,
    quantile: float,
    horizon: int = 0,
) -> F64Array:
    """The T² and Q limits: `quantile` of a scaled χ² fitted to the held-out statistics,
    leaving out the first `smoothing` (+ `horizon`) rows, where the EWMA has not settled."""
    alpha = 2.0 / (smoothing + 1.0)
    t2, q = held_out_statistics(columns, share, kept, alpha, folds, horizon)
    skip = min(smoothing + horizon, len(t2) - 1)
    limits = [scaled_chi2_limit(x[skip:], quantile) for x in (t2, q)]
    return np.array(limits, dtype=np.float64)
