"""The change statistic of PCA process control: how the smoothed metrics moved over the last
`horizon` readings, against how they moved together in training (a dynamic PCA of
short-horizon differences).

A level statistic (T², Q) cannot tell a fault from a slow wander the training rows did not
show (a temperature falling for minutes, a level that settles elsewhere after a repair): both
sit a few limits out. A fault that starts at once moves the metrics within a few readings,
and unlike they move together in training; the wander does not. The difference of the
smoothed reading over `horizon` readings sees such a start; the level statistics then say
how long the device stays away (see `pca_spc`, where a change beyond its limit opens an
excursion that the level statistics hold).
"""

from __future__ import annotations

import numpy as np

from forewarn.detection.base import F64Array
from forewarn.detection.pca_stats import differences, principal_axes
from forewarn.detection.spc_limits import control_limits

ChangeModel = tuple[F64Array, F64Array, F64Array]  # eigenvalues, loadings, limits (T², Q)
Limits = tuple[int, int, float]  # smoothing span, held-out blocks, quantile


def change_model(
    columns: F64Array, e: F64Array, horizon: int, share: float, limits: Limits
) -> ChangeModel:
    """Principal axes of the differences of the smoothed training rows `e`, and the limits
    of their T² and Q from held-out training blocks (as for the level, `control_limits`)."""
    smoothing, folds, quantile = limits
    d = differences(e, horizon, [])[min(smoothing + horizon, len(e) - 2) :]
    eigenvalues, loadings = principal_axes(d, share)
    kept = loadings.shape[1]
    found = control_limits(columns, share, kept, smoothing, folds, quantile, horizon)
    if e.shape[1] == 1:
        found[1] = np.inf  # no residual space: Q is 0 and never alarms
    return eigenvalues, loadings, found


def beyond_limit(ratio: float) -> float:
    """The change statistic's part in the score: its ratio beyond the limit, else none (a
    change under its limit opens nothing, and must not hold an excursion open)."""
    return ratio if ratio > 1.0 else 0.0
