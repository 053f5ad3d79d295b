"""Priming a feature state on history in one vectorised pass leaves exactly the state that
pushing the readings one by one leaves (a rebuilt state must score as a kept one)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from forewarn.detection.feature_state import PRIME_BATCH_MIN, FeatureRows
from forewarn.detection.robust import RobustZScore
from forewarn.sim import TEMPERATURE, generate

MINUTE_MS = 60_000


def _bits(row: list[float]) -> list[bytes]:
    return [struct.pack("<d", x) for x in row]


def _series(n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A daily-cycle temperature with a spike, a gap and a stuck stretch."""
    rng = np.random.default_rng(width)
    start = 1_767_225_600_000
    values = generate(TEMPERATURE, start, n, MINUTE_MS, rng)
    stamps = start + np.arange(n, dtype=np.int64) * MINUTE_MS
    stamps[n // 3 :] += 17 * MINUTE_MS  # a gap
    values[n // 2] += 12.0  # a spike
    columns = np.column_stack([values + k for k in range(width)])
    columns[n // 4 : n // 4 + 30] = columns[n // 4]  # a stuck stretch
    return stamps, columns


@pytest.mark.parametrize("width", [1, 3])
@pytest.mark.parametrize("history", [0, 5, PRIME_BATCH_MIN, 2_000])
def test_vectorised_prime_equals_pushing_one_by_one(width: int, history: int) -> None:
    ts, values = _series(history + 300, width)
    metrics = [f"m{k}" for k in range(width)]
    detector = RobustZScore(metrics=metrics).fit(ts[:2000], values[:2000])
    primed = FeatureRows(detector._fitted(), detector.floors_)
    primed.prime(ts[:history], values[:history])
    pushed = FeatureRows(detector._fitted(), detector.floors_)
    for t, v in zip(ts[:history].tolist(), values[:history].tolist(), strict=True):
        pushed.push(t, v)
    assert (primed.seen, primed.warming_up) == (pushed.seen, pushed.warming_up)
    for t, v in zip(ts[history:].tolist(), values[history:].tolist(), strict=True):
        assert _bits(primed.push(t, v)) == _bits(pushed.push(t, v))
