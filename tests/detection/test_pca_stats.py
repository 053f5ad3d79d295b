"""The arithmetic behind PCA process control: the EWMA, the χ² limit, the held-out limits."""

from __future__ import annotations

import numpy as np

from forewarn.detection.pca_stats import differences, scaled_chi2_limit, smoothed_rows
from forewarn.detection.spc_limits import control_limits


def test_the_ewma_continues_exactly_where_it_stopped() -> None:
    z = np.random.default_rng(0).normal(size=(300, 3))
    whole = smoothed_rows(z, 0.2)
    first = smoothed_rows(z[:120], 0.2)
    rest = smoothed_rows(z[120:], 0.2, first[-1])
    assert np.array_equal(np.vstack([first, rest]), whole)
    assert np.array_equal(whole[0], z[0])
    assert smoothed_rows(z[:0], 0.2).shape == (0, 3)


def test_the_scaled_chi2_limit_finds_a_chi2_quantile() -> None:
    x = 2.0 * np.random.default_rng(1).chisquare(4, 200_000)
    for q in (0.99, 0.999):
        assert abs(scaled_chi2_limit(x, q) / np.quantile(x, q) - 1) < 0.05


def test_a_statistic_that_never_moves_gets_a_finite_positive_limit() -> None:
    assert 0 < scaled_chi2_limit(np.zeros(50), 0.999) < 1e-6
    assert scaled_chi2_limit(np.full(50, 3.0), 0.999) == 3.0


def test_higher_quantiles_give_wider_limits() -> None:
    rng = np.random.default_rng(2)
    load = np.repeat(rng.uniform(0.5, 1.0, 10), 50)
    columns = np.column_stack([30 * load, 1 + 4 * load, rng.normal(0, 1, 500)])
    columns[:, :2] += rng.normal(0, 0.1, (500, 2))
    low, high = (control_limits(columns, 0.9, 2, 10, 5, q) for q in (0.99, 0.99999))
    assert np.all(high > low) and np.all(low > 0)


def test_the_differences_continue_exactly_where_they_stopped() -> None:
    e = np.random.default_rng(3).normal(size=(100, 3))
    whole = differences(e, 10, [])
    rest = differences(e[37:], 10, e[27:37].tolist())
    assert np.array_equal(whole[37:], rest)
    assert np.array_equal(whole[0], np.zeros(3))  # the stream's first row stands in before it
    assert np.array_equal(whole[5], e[5] - e[0])
