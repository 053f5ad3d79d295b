"""Why a device's reading is out of control: the metrics behind its T² or Q, in words.

The metrics are ranked by their reconstruction-based contribution (`ReadingStats
.contributions`) to the smoothed reading; the summary names the leading ones and the
statistic that is furthest beyond its limit, and each metric's deviation is given in its
own unit: the smoothed value against the training mean (T²) or against what the other
metrics imply (Q).
"""

from __future__ import annotations

from collections.abc import Sequence

from forewarn.detection.base import Deviation, Explanation
from forewarn.detection.pca_stats import ReadingStats

NAMED = 3  # at most this many metrics in the summary ...
NAMED_SHARE = 0.5  # ... each contributing at least this share of the leading one's part

Scaling = tuple[list[float], list[float]]  # per metric: training mean and std


def ranked_metrics(shares: list[float]) -> list[int]:
    """Metric positions by contribution, largest first."""
    return sorted(range(len(shares)), key=lambda j: -shares[j])


def named_metrics(metrics: Sequence[str], shares: list[float]) -> list[str]:
    """The metrics the summary names: the leading one and those close to it."""
    ranked = ranked_metrics(shares)
    top = shares[ranked[0]]
    named = [metrics[j] for j in ranked[:NAMED] if shares[j] >= NAMED_SHARE * top > 0]
    return named or [metrics[ranked[0]]]


def deviations(
    model: ReadingStats, metrics: Sequence[str], scaling: Scaling, e: list[float], of_q: bool
) -> tuple[Deviation, ...]:
    """Each metric's smoothed value against its baseline, in the metric's unit."""
    center, scale = scaling
    fitted = [ej - r for ej, r in zip(e, model.residuals(e, model.components(e)), strict=True)]
    return tuple(
        Deviation("residual" if of_q else "level", c + s * ej, c + s * (f if of_q else 0.0), s, m)
        for m, ej, c, s, f in zip(metrics, e, center, scale, fitted, strict=True)
    )


def summary(named: list[str], ratios: tuple[float, float], of_q: bool) -> str:
    """One sentence: who, and which statistic how far beyond its limit."""
    who = " and ".join(named)
    if of_q:
        verb = "moves" if len(named) == 1 else "move"
        return f"{who} {verb} unlike in training (Q {ratios[1]:.1f}× its limit)"
    verb = "is" if len(named) == 1 else "are"
    return f"{who} {verb} far from the usual operating point (T² {ratios[0]:.1f}× its limit)"


def explanation(
    model: ReadingStats,
    metrics: Sequence[str],
    scaling: Scaling,
    e: list[float],
    ratios: tuple[float, float],
) -> Explanation:
    """The explanation of a smoothed standardised reading `e` with limit ratios (T², Q)."""
    of_q = ratios[1] > ratios[0] and len(metrics) > 1
    shares = model.contributions(e)
    text = summary(named_metrics(metrics, shares), ratios, of_q)
    ordered = tuple(metrics[j] for j in ranked_metrics(shares))
    return Explanation(text, deviations(model, metrics, scaling, e, of_q), ordered)


def change_explanation(
    model: ReadingStats,
    metrics: Sequence[str],
    scaling: Scaling,
    rows: tuple[list[float], list[float]],
    ratio: float,
) -> Explanation:
    """The explanation of a change: `rows` are the smoothed standardised reading and its
    difference from `horizon` readings before; each metric's deviation is its smoothed
    value against the one then, in its own unit."""
    (e, diff), (center, scale) = rows, scaling
    shares = model.contributions(diff)
    named = named_metrics(metrics, shares)
    verb = "moves" if len(named) == 1 else "move"
    text = f"{' and '.join(named)} {verb} unlike in training (change {ratio:.1f}× its limit)"
    found = tuple(
        Deviation("rate", c + s * ej, c + s * (ej - dj), s, m)
        for m, ej, dj, c, s in zip(metrics, e, diff, center, scale, strict=True)
    )
    return Explanation(text, found, tuple(metrics[j] for j in ranked_metrics(shares)))
