"""The latency histogram: buckets, quantiles, and its merge into model_metrics on flush."""

from __future__ import annotations

import uuid
from collections import Counter

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forewarn.db.models import ModelMetrics
from forewarn.runtime import Runtime
from forewarn.scoring.latency import BOUNDS_S, bucket_of, quantile, stored_tally
from tests.factories import (
    DAY_ROWS,
    FOREST,
    T0,
    Headers,
    make_device,
    normal_readings,
    store_readings,
    trained_model,
)


@pytest.mark.parametrize("seconds", [1e-6, 1e-5, 3.3e-4, 0.02, 1.0, 7.5, 1e4])
def test_a_duration_falls_in_the_bucket_that_bounds_it(seconds: float) -> None:
    k = bucket_of(seconds)
    assert seconds <= (BOUNDS_S[k] if k < len(BOUNDS_S) else float("inf"))
    assert k == 0 or seconds > BOUNDS_S[k - 1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantiles_are_within_a_bucket_of_the_exact_ones(seed: int) -> None:
    samples = np.random.default_rng(seed).lognormal(np.log(0.002), 1.0, 2000)
    buckets = Counter(bucket_of(float(s)) for s in samples)
    for q in (0.5, 0.95, 0.99):
        assert quantile(buckets, q) == pytest.approx(np.quantile(samples, q), rel=0.09)
    assert quantile(Counter(), 0.95) is None


def test_flushes_add_up_in_the_model_metrics_row(
    runtime: Runtime, client: TestClient, operator: Headers
) -> None:
    device = make_device(runtime)
    store_readings(runtime, device, normal_readings(DAY_ROWS, start=T0))
    model_id = uuid.UUID(trained_model(client, operator, device, **FOREST)["id"])
    runtime.usage.latency.record(model_id, 0.010, (2_000, 3_000))
    runtime.usage.latency.record(uuid.uuid4(), 0.5, (1, 2))  # a model that no longer exists
    runtime.usage.flush()
    runtime.usage.latency.record(model_id, 0.030, (1_000, 2_500))
    runtime.usage.flush()
    with runtime.sessions() as session:
        row = session.get(ModelMetrics, model_id)
        assert row is not None
        tally = stored_tally(row)
        assert session.query(ModelMetrics).count() == 1
    assert (tally.count, tally.sum_s) == (2, pytest.approx(0.040))
    assert (tally.first_ts, tally.last_ts) == (1_000, 3_000)
    assert tally.buckets == Counter({bucket_of(0.010): 1, bucket_of(0.030): 1})
