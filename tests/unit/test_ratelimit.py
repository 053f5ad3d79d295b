"""Fixed-window rate limiter on a frozen clock, in memory and through a real Redis."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
import redis

from forewarn.security.ratelimit import (
    CounterStore,
    MemoryCounterStore,
    RateLimiter,
    RedisCounterStore,
)
from tests.conftest import service_url

WINDOW_START = 1_800_000_000.0  # a multiple of 60: the start of a one-minute window


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FrozenClock:
    """Fifteen seconds into a window."""
    return FrozenClock(WINDOW_START + 15.25)


@pytest.fixture
def redis_url() -> str:
    """The test Redis (skipped locally when not configured, required in CI)."""
    return service_url("FOREWARN_TEST_REDIS_URL")


@pytest.fixture
def scope() -> str:
    """A scope no other test or run uses."""
    return f"test-{secrets.token_hex(6)}"


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest, scope: str) -> Iterator[Callable[[], CounterStore]]:
    """Stores of one kind; Redis ones share counts like separate processes would."""
    if request.param == "memory":
        shared = MemoryCounterStore()
        yield lambda: shared
        return
    url = request.getfixturevalue("redis_url")
    yield lambda: RedisCounterStore(url)
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"fw:rl:{scope}*"):
        client.delete(key)
    client.close()


def _limiter(
    store: CounterStore, scope: str, clock: FrozenClock, limit: int = 3, window_s: int = 60
) -> RateLimiter:
    return RateLimiter(store, scope=scope, limit=limit, window_s=window_s, clock=clock)


def test_limit_hits_pass_then_refusal_says_when_window_ends(
    make_store: Callable[[], CounterStore], scope: str, clock: FrozenClock
) -> None:
    limiter = _limiter(make_store(), scope, clock)
    verdicts = [limiter.hit("alice") for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert [v.retry_after_s for v in verdicts] == [0, 0, 0, 45, 45]


def test_retry_after_counts_down_and_never_reaches_zero(
    make_store: Callable[[], CounterStore], scope: str, clock: FrozenClock
) -> None:
    limiter = _limiter(make_store(), scope, clock, limit=1)
    limiter.hit("alice")
    clock.advance(30)
    assert limiter.hit("alice").retry_after_s == 15
    clock.now = WINDOW_START + 60 - 1e-6
    refused = limiter.hit("alice")
    assert not refused.allowed and refused.retry_after_s == 1


def test_next_window_starts_from_zero(
    make_store: Callable[[], CounterStore], scope: str, clock: FrozenClock
) -> None:
    limiter = _limiter(make_store(), scope, clock)
    for _ in range(4):
        limiter.hit("alice")
    clock.now = WINDOW_START + 60
    assert [limiter.hit("alice").allowed for _ in range(4)] == [True, True, True, False]


def test_keys_are_counted_apart(
    make_store: Callable[[], CounterStore], scope: str, clock: FrozenClock
) -> None:
    limiter = _limiter(make_store(), scope, clock, limit=1)
    assert limiter.hit("alice").allowed
    assert not limiter.hit("alice").allowed
    assert limiter.hit("bob").allowed


def test_scopes_are_counted_apart(
    make_store: Callable[[], CounterStore], scope: str, clock: FrozenClock
) -> None:
    store = make_store()
    user = _limiter(store, scope, clock, limit=1)
    login = _limiter(store, f"{scope}-login", clock, limit=1)
    assert user.hit("alice").allowed
    assert login.hit("alice").allowed
    assert not user.hit("alice").allowed


def test_window_length_is_respected(
    make_store: Callable[[], CounterStore], scope: str, clock: FrozenClock
) -> None:
    limiter = _limiter(make_store(), scope, clock, limit=1, window_s=10)
    clock.now = WINDOW_START + 3
    assert limiter.hit("alice").allowed
    refused = limiter.hit("alice")
    assert not refused.allowed and refused.retry_after_s == 7
    clock.advance(7)
    assert limiter.hit("alice").allowed


def test_two_limiters_on_shared_counters_enforce_one_limit(
    make_store: Callable[[], CounterStore], scope: str, clock: FrozenClock
) -> None:
    """Two processes (each with its own limiter and store client) share one budget."""
    first = _limiter(make_store(), scope, clock)
    second = _limiter(make_store(), scope, clock)
    assert [first.hit("alice").allowed for _ in range(2)] == [True, True]
    assert second.hit("alice").allowed
    assert not first.hit("alice").allowed
    assert not second.hit("alice").allowed


def test_memory_store_keeps_counting_after_dropping_old_windows(clock: FrozenClock) -> None:
    limiter = _limiter(MemoryCounterStore(), "user", clock)
    for n in range(10_050):  # enough keys to make the store drop the old window
        limiter.hit(f"client-{n}")
    clock.advance(60)
    assert [limiter.hit("alice").allowed for _ in range(4)] == [True, True, True, False]
    assert limiter.hit("client-1").allowed


def test_redis_keys_expire_after_their_window(
    redis_url: str, scope: str, clock: FrozenClock
) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        limiter = _limiter(RedisCounterStore(redis_url), scope, clock, window_s=60)
        limiter.hit("alice")
        limiter.hit("alice")
        keys = [k.decode() for k in client.scan_iter(match=f"fw:rl:{scope}:*")]
        assert keys == [f"fw:rl:{scope}:alice:{int(WINDOW_START // 60)}"]
        assert int(client.get(keys[0]) or 0) == 2
        assert 0 < client.ttl(keys[0]) <= 61
    finally:
        for key in client.scan_iter(match=f"fw:rl:{scope}*"):
            client.delete(key)
        client.close()


def test_unreachable_redis_still_limits_per_process(clock: FrozenClock) -> None:
    """A Redis outage must neither take the API down nor lift the limits."""
    limiter = _limiter(RedisCounterStore("redis://127.0.0.1:1/0"), "user", clock)
    assert [limiter.hit("alice").allowed for _ in range(4)] == [True, True, True, False]
