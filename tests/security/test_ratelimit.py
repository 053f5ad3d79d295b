"""Fixed-window rate limiter, in memory and through a real Redis.

`limits` reads the wall clock, so no test freezes it: hits made one after the other fall in
one window (a minute, or a second where a test waits for the next window).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from forewarn.security.ratelimit import Counters, RateLimiter, SweptMemoryStorage
from tests.support import free_port, redis_command, server, service_url


@pytest.fixture
def redis_url() -> str:
    """The test Redis (skipped locally when not configured, required in CI)."""
    return service_url("FOREWARN_TEST_REDIS_URL")


@pytest.fixture
def scope() -> str:
    """A scope no other test or run uses."""
    return f"test-{secrets.token_hex(6)}"


@pytest.fixture(params=["memory", "redis"])
def make_counters(request: pytest.FixtureRequest, scope: str) -> Iterator[Callable[[], Counters]]:
    """Counters of one kind; Redis ones share counts like separate processes would."""
    if request.param == "memory":
        shared = Counters()
        yield lambda: shared
        return
    url = request.getfixturevalue("redis_url")
    yield lambda: Counters(url)
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=f"fw:rl:{scope}*"):
        client.delete(key)
    client.close()


def _limiter(counters: Counters, scope: str, limit: int = 3, window_s: int = 60) -> RateLimiter:
    return RateLimiter(counters, scope=scope, limit=limit, window_s=window_s)


def test_limit_hits_pass_then_refusal_says_when_window_ends(
    make_counters: Callable[[], Counters], scope: str
) -> None:
    limiter = _limiter(make_counters(), scope)
    verdicts = [limiter.hit("alice") for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert [v.retry_after_s for v in verdicts[:3]] == [0, 0, 0]
    # The window opened with the first hit, a moment ago: nearly all of it is left.
    assert all(58 <= v.retry_after_s <= 60 for v in verdicts[3:])


@pytest.mark.slow
def test_waiting_retry_after_starts_the_next_window_from_zero(
    make_counters: Callable[[], Counters], scope: str
) -> None:
    limiter = _limiter(make_counters(), scope, window_s=1)
    for _ in range(3):
        limiter.hit("alice")
    refused = limiter.hit("alice")
    assert not refused.allowed and refused.retry_after_s == 1  # never 0, never past the window
    time.sleep(refused.retry_after_s)
    assert [limiter.hit("alice").allowed for _ in range(4)] == [True, True, True, False]


def test_keys_are_counted_apart(make_counters: Callable[[], Counters], scope: str) -> None:
    limiter = _limiter(make_counters(), scope, limit=1)
    assert limiter.hit("alice").allowed
    assert not limiter.hit("alice").allowed
    assert limiter.hit("bob").allowed


def test_scopes_are_counted_apart(make_counters: Callable[[], Counters], scope: str) -> None:
    counters = make_counters()
    user = _limiter(counters, scope, limit=1)
    login = _limiter(counters, f"{scope}-login", limit=1)
    assert user.hit("alice").allowed
    assert login.hit("alice").allowed
    assert not user.hit("alice").allowed


def test_two_limiters_on_shared_counters_enforce_one_limit(
    make_counters: Callable[[], Counters], scope: str
) -> None:
    """Two processes (each with its own limiter and counters client) share one budget."""
    first = _limiter(make_counters(), scope)
    second = _limiter(make_counters(), scope)
    assert [first.hit("alice").allowed for _ in range(2)] == [True, True]
    assert second.hit("alice").allowed
    assert not first.hit("alice").allowed
    assert not second.hit("alice").allowed


def test_redis_keys_expire_after_their_window(redis_url: str, scope: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        limiter = _limiter(Counters(redis_url), scope, window_s=60)
        limiter.hit("alice")
        limiter.hit("alice")
        keys = [k.decode() for k in client.scan_iter(match=f"fw:rl:{scope}/*")]
        assert keys == [f"fw:rl:{scope}/alice/3/60/second"]
        assert int(client.get(keys[0]) or 0) == 2
        assert 0 < client.ttl(keys[0]) <= 60
    finally:
        for key in client.scan_iter(match=f"fw:rl:{scope}*"):
            client.delete(key)
        client.close()


def test_unreachable_redis_still_limits_per_process(caplog: pytest.LogCaptureFixture) -> None:
    """A Redis outage must neither take the API down nor lift the limits; it is logged once."""
    limiter = _limiter(Counters("redis://127.0.0.1:1/0"), "user")
    with caplog.at_level(logging.WARNING, logger="forewarn.security.ratelimit"):
        verdicts = [limiter.hit("alice") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert 1 <= verdicts[-1].retry_after_s <= 60
    (logged,) = caplog.records
    assert logged.getMessage().endswith("; counting locally")


@pytest.mark.slow
def test_counting_moves_back_to_redis_when_it_returns(caplog: pytest.LogCaptureFixture) -> None:
    """Each outage is logged once, and the shared counters are used again after it."""
    port = free_port()
    limiter = _limiter(Counters(f"redis://127.0.0.1:{port}/0"), "user", limit=1)
    with caplog.at_level(logging.WARNING, logger="forewarn.security.ratelimit"):
        assert [limiter.hit("alice").allowed for _ in range(2)] == [True, False]  # locally
        with server(redis_command(port), port):
            # Redis keeps its own count: a fresh budget, then shared with other processes.
            assert [limiter.hit("alice").allowed for _ in range(2)] == [True, False]
            client = redis.Redis(port=port)
            assert [k.decode() for k in client.scan_iter()] == ["fw:rl:user/alice/1/60/second"]
            client.close()
        assert not limiter.hit("alice").allowed  # local counters again, still spent
    assert len(caplog.records) == 2


def test_memory_counting_starts_no_thread() -> None:
    """limits' MemoryStorage would start a sweeper thread every 10 ms under traffic."""
    limiter = RateLimiter(Counters(None), scope="ip", limit=1_000)
    before = threading.active_count()
    for i in range(200):
        assert limiter.hit(f"10.0.0.{i % 7}").allowed
    assert threading.active_count() == before


def test_expired_windows_are_swept_from_memory() -> None:
    storage = SweptMemoryStorage()
    storage.SWEEP_S = 0.0  # sweep on every counter move
    storage.incr("old", expiry=60)
    storage.expirations["old"] = time.time() - 1  # its window has ended
    storage.incr("new", expiry=60)
    assert "old" not in storage.storage and storage.get("new") == 1


def test_memory_is_swept_at_most_once_a_second() -> None:
    storage = SweptMemoryStorage()
    storage.incr("a", expiry=60)  # the first counter move sweeps
    storage.expirations["a"] = time.time() - 1
    storage.incr("b", expiry=60)  # within the second: no sweep yet
    assert "a" in storage.storage
    assert storage.get("a") == 0  # an ended window never counts, swept or not
