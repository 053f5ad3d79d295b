"""The surprise-rate member: how often unusual changes occur, against the training rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forewarn.detection.ensemble import LikelihoodEnsemble
from forewarn.detection.likelihood import VAR_FLOOR, AnomalyLikelihood
from forewarn.detection.surprise_rate import Z_HALF, SurpriseRate, tail_table, z_score

INTERVAL_MS = 300_000  # five-minute readings: an hour is 12
START_MS = 1_704_067_200_000


def spiky(n: int, every: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noise with a spike of the usual height every `every` readings."""
    ts = START_MS + np.arange(n, dtype=np.int64) * INTERVAL_MS
    values = 10 + np.random.default_rng(seed).normal(0, 0.1, n)
    values[::every] += 5.0
    return ts, values


def test_tail_table_is_the_normal_score_of_the_mid_p_binomial_tail() -> None:
    h, p = 12, 0.05
    pmf = [math.comb(h, k) * p**k * (1 - p) ** (h - k) for k in range(h + 1)]
    for k, z in enumerate(tail_table(h, p)):
        mid = sum(pmf[k + 1 :]) + pmf[k] / 2
        assert 0.5 * math.erfc(z / math.sqrt(2)) == pytest.approx(mid, rel=1e-9)


def test_the_likelihood_floor_is_one_z_squared() -> None:
    # Slope of the raw score at z = 0 equals the likelihood's smallest standard deviation
    slope = 0.5 / Z_HALF
    assert slope == pytest.approx(math.sqrt(VAR_FLOOR))
    assert z_score(0.0) == 0.5


def test_denser_spikes_of_the_usual_height_score_higher() -> None:
    ts = START_MS + np.arange(3000, dtype=np.int64) * INTERVAL_MS
    values = np.zeros(3000)
    values[::40] = 20.0  # a regular spike, as in NAB's artificial series
    dense = values.copy()
    dense[2403:2412:3] = 20.0  # three more in the same hour, each of the usual height
    detector = SurpriseRate().fit(ts[:2000], values[:2000])
    usual = detector.history_scores(ts, values)[2000:]
    faulty = detector.history_scores(ts, dense)[2000:]
    assert faulty[400:412].max() > usual.max() + 0.003  # more than 3 z above any usual count
    state = detector.prime(ts[:2000], dense[:2000])
    for t, v in zip(ts[2000:2412].tolist(), dense[2000:2412].tolist(), strict=True):
        state.update(t, v)
    assert state.explain().summary.startswith("value changed unusually 8 times")


@pytest.mark.parametrize("metrics", [("value",), ("a", "b")])
def test_batches_equal_one_reading_at_a_time(metrics: tuple[str, ...]) -> None:
    ts, values = spiky(3000, every=25)
    if len(metrics) == 2:
        values = np.column_stack((values, np.roll(values, 7) * 2))
    detector = SurpriseRate(metrics=metrics).fit(ts[:1500], values[:1500])
    one, batched = (detector.prime(ts[:1500], values[:1500]) for _ in range(2))
    readings = list(zip(ts[1500:].tolist(), values[1500:].tolist(), strict=True))
    streamed = [one.update(t, v).score for t, v in readings]
    scores: list[float] = []
    for lo in range(1500, 3000, 137):
        chunk = values[lo : lo + 137].reshape(len(ts[lo : lo + 137]), -1)
        scores += batched.score_batch(ts[lo : lo + 137], chunk).scores.tolist()
    assert streamed == scores
    assert one.explain() == batched.explain()
    assert vars(one)["_ring"] == vars(batched)["_ring"]


def test_round_trip_and_a_level_never_reached() -> None:
    ts = START_MS + np.arange(1000, dtype=np.int64) * INTERVAL_MS
    flat = np.full(1000, 3.0)
    detector = SurpriseRate().fit(ts, flat)
    assert detector.rate_[0] == pytest.approx(1 / 1001)  # Laplace: not impossible
    again = SurpriseRate.from_arrays(detector.to_arrays(), params=detector.params())
    state = again.prime(ts, flat)
    assert state.update(int(ts[-1]) + INTERVAL_MS, 3.5).score > z_score(2.0)


def test_too_short_a_history_scores_nothing() -> None:
    ts, values = spiky(20, every=5)
    state = SurpriseRate().fit(ts, values).prime(ts, values)  # 20 readings < two hours
    assert state.update(int(ts[-1]) + INTERVAL_MS, 100.0).score == 0.5
    assert "too little history" in state.explain().summary


def test_a_member_of_the_ensemble_and_of_the_likelihood() -> None:
    ts, values = spiky(3000, every=40)
    likelihood = AnomalyLikelihood(base="surprise_rate").fit(ts[:2000], values[:2000])
    assert likelihood.var_ >= VAR_FLOOR
    ensemble = LikelihoodEnsemble().fit(ts[:2000], values[:2000])
    assert "surprise_rate" in ensemble.members
    score = ensemble.prime(ts[:2000], values[:2000]).update(int(ts[2000]), 10.0).score
    assert 0.0 <= score < ensemble.threshold_
