"""The Redis layer of active-model lookups: shared between processes, invalidated by generation."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest

from forewarn.scoring.active_cache import RedisModelCache
from forewarn.scoring.registry import ActiveModel
from tests.support import free_port, service_url

T0 = 1_730_000_000_000


def _model(
    device: uuid.UUID, version: int = 1, metrics: tuple[str, ...] = ("temperature",)
) -> ActiveModel:
    return ActiveModel(
        uuid.uuid4(), device, ",".join(metrics), version, 0.61, f"{device}/model_{version}.npz",
        "isolation_forest", metrics, T0 - 86_400_000, T0,
    )  # fmt: skip


def _refuse() -> ActiveModel:
    raise AssertionError("the database was read although Redis had the answer")


@pytest.fixture
def caches() -> Iterator[tuple[RedisModelCache, RedisModelCache]]:
    """Two processes' caches on the test Redis."""
    url = service_url("FOREWARN_TEST_REDIS_URL")
    one, two = RedisModelCache(url, ttl_s=60), RedisModelCache(url, ttl_s=60)
    yield one, two
    one.close()
    two.close()


def test_a_model_loaded_by_one_process_is_found_by_another(
    caches: tuple[RedisModelCache, RedisModelCache],
) -> None:
    one, two = caches
    device = uuid.uuid4()
    model = _model(device)
    device_level = _model(device, metrics=("temperature", "vibration"))
    assert one.series(device, "temperature", lambda: model) == model
    assert two.series(device, "temperature", _refuse) == model
    assert one.device(device, lambda: [model, device_level]) == [model, device_level]
    assert two.device(device, lambda: [_refuse()]) == [model, device_level]


def test_invalidation_makes_every_process_reload(
    caches: tuple[RedisModelCache, RedisModelCache],
) -> None:
    one, two = caches
    device = uuid.uuid4()
    old, new = _model(device, 1), _model(device, 2)
    one.series(device, "temperature", lambda: old)
    one.device(device, lambda: [old])
    one.invalidate(device)
    assert two.series(device, "temperature", lambda: new) == new
    assert two.device(device, lambda: [new]) == [new]
    assert one.series(device, "temperature", _refuse) == new


def test_a_read_that_races_a_retrain_cannot_leave_a_stale_entry(
    caches: tuple[RedisModelCache, RedisModelCache],
) -> None:
    one, two = caches
    device = uuid.uuid4()
    old, new = _model(device, 1), _model(device, 2)

    def read_old_while_retraining() -> ActiveModel:
        # The database answered with version 1, then the retrain committed and invalidated.
        one.invalidate(device)
        return old

    assert two.series(device, "temperature", read_old_while_retraining) == old
    assert one.series(device, "temperature", lambda: new) == new
    assert two.series(device, "temperature", _refuse) == new


def test_lookups_fall_back_to_the_database_while_redis_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    cache = RedisModelCache(
        f"redis://127.0.0.1:{free_port()}/0", ttl_s=60, retry_after_s=5, clock=lambda: now[0]
    )
    device = uuid.uuid4()
    model = _model(device)
    with caplog.at_level(logging.WARNING, logger="forewarn.scoring.active_cache"):
        assert cache.series(device, "temperature", lambda: model) == model
        cache.invalidate(device)  # skipped while Redis is known to be down
        assert cache.device(device, lambda: [model]) == [model]
        assert len(caplog.records) == 1  # one warning for the outage, not one per lookup
        now[0] = 6.0  # after the pause Redis is tried again
        assert cache.series(device, "temperature", lambda: model) == model
        assert len(caplog.records) == 2
    cache.close()
