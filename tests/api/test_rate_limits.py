"""Rate limits over HTTP: per user, per client address, and on login attempts.

A key's one-minute window opens with its first hit, so a scenario that uses fresh keys (new
users, emails and addresses) runs inside one window without sleeping or freezing a clock.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from forewarn.api.app import create_app
from forewarn.runtime import Runtime, build_runtime
from forewarn.settings import Settings
from tests.factories import PASSWORD, make_settings, seed_user
from tests.support import service_url

WINDOW_S = 60
HEALTH = "/api/v1/health"
ME = "/api/v1/auth/me"
LOGIN = "/api/v1/auth/login"


def fresh_ip() -> str:
    """A client address no other test uses."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


class Limited:
    """Apps built on this test's database with chosen limits, and clients from any address."""

    def __init__(self, tmp_path: Path, database_url: str, stack: ExitStack) -> None:
        self._tmp_path = tmp_path
        self._database_url = database_url
        self._stack = stack
        self._secret = secrets.token_urlsafe(40)

    def app(self, **limits: object) -> tuple[FastAPI, Runtime]:
        """An app whose runtime has these settings (e.g. rate_limit_user_per_minute=3)."""
        settings: Settings = make_settings(
            self._tmp_path, self._database_url, secret_key=self._secret, **limits
        )
        runtime = build_runtime(settings, migrate=False)
        self._stack.callback(runtime.close)
        return create_app(runtime, own_runtime=False), runtime

    def client(self, app: FastAPI, ip: str = "testclient") -> TestClient:
        """A client whose requests come from `ip`."""
        client = TestClient(app, client=(ip, 50000))
        self._stack.callback(client.close)
        return client


@pytest.fixture
def limited(tmp_path: Path, database_url: str) -> Iterator[Limited]:
    """A factory of rate-limited apps, closed after the test."""
    with ExitStack() as stack:
        yield Limited(tmp_path, database_url, stack)


def _assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= WINDOW_S
    assert response.json()["detail"] == "rate limit exceeded; retry later"


# --- per user ----------------------------------------------------------------------------


def test_fourth_call_of_a_user_in_a_minute_is_429_and_others_are_unaffected(
    limited: Limited,
) -> None:
    app, runtime = limited.app(rate_limit_user_per_minute=3)
    client = limited.client(app)

    alice = seed_user(runtime).headers
    bob = seed_user(runtime).headers
    calls = [client.get(ME, headers=alice) for _ in range(4)]
    other = client.get(ME, headers=bob)
    assert [r.status_code for r in calls[:3]] == [200, 200, 200]
    _assert_throttled(calls[3])
    assert other.status_code == 200


def test_user_budget_follows_the_user_across_addresses(limited: Limited) -> None:
    app, runtime = limited.app(rate_limit_user_per_minute=3)

    alice = seed_user(runtime).headers
    first, second = limited.client(app, fresh_ip()), limited.client(app, fresh_ip())
    codes = [c.get(ME, headers=alice).status_code for c in (first, second, first, second)]
    assert codes == [200, 200, 200, 429]


# --- per client address --------------------------------------------------------------------


def test_fourth_request_from_an_address_is_429_and_other_addresses_pass(
    limited: Limited,
) -> None:
    app, _ = limited.app(rate_limit_ip_per_minute=3)

    noisy, quiet = limited.client(app, fresh_ip()), limited.client(app, fresh_ip())
    calls = [noisy.get(HEALTH) for _ in range(4)]
    other = quiet.get(HEALTH)
    assert [r.status_code for r in calls[:3]] == [200, 200, 200]
    _assert_throttled(calls[3])
    assert other.status_code == 200


def test_address_limit_counts_requests_without_a_valid_token(limited: Limited) -> None:
    """Guessing tokens from one address is throttled like any other traffic."""
    app, runtime = limited.app(rate_limit_ip_per_minute=3)

    alice = seed_user(runtime).headers
    guesser = limited.client(app, fresh_ip())
    guesses = [guesser.get(ME, headers={"Authorization": f"Bearer {n}"}) for n in range(3)]
    calls = [*guesses, guesser.get(ME, headers=alice)]
    assert [r.status_code for r in calls[:3]] == [401, 401, 401]
    _assert_throttled(calls[3])


# --- login attempts --------------------------------------------------------------------------


def _login(client: TestClient, email: str, password: str) -> httpx.Response:
    response: httpx.Response = client.post(LOGIN, json={"email": email, "password": password})
    return response


def test_failed_logins_lock_out_even_the_right_password(limited: Limited) -> None:
    app, runtime = limited.app(rate_limit_login_per_minute=3)

    email = seed_user(runtime).email
    other_email = seed_user(runtime).email
    attacker = limited.client(app, fresh_ip())
    calls = [_login(attacker, email, f"guess-{n}-password") for n in range(3)]
    calls.append(_login(attacker, email, PASSWORD))
    other = _login(limited.client(app, fresh_ip()), other_email, PASSWORD)
    assert [r.status_code for r in calls[:3]] == [401, 401, 401]
    _assert_throttled(calls[3])
    assert other.status_code == 200


def test_login_limit_per_email_holds_across_addresses(limited: Limited) -> None:
    """Many addresses guessing one account are stopped too (the email is the key)."""
    app, runtime = limited.app(rate_limit_login_per_minute=3)

    email = seed_user(runtime).email
    spellings = [email, email.upper(), f" {email} "]
    calls = [
        _login(limited.client(app, fresh_ip()), spelled, "wrong-password-guess")
        for spelled in spellings
    ]
    calls.append(_login(limited.client(app, fresh_ip()), email, PASSWORD))
    assert [r.status_code for r in calls[:3]] == [401, 401, 401]
    _assert_throttled(calls[3])


def test_login_limit_per_address_holds_across_emails(limited: Limited) -> None:
    """One address guessing many accounts is stopped (the address is the key)."""
    app, runtime = limited.app(rate_limit_login_per_minute=3)

    email = seed_user(runtime).email
    sprayer = limited.client(app, fresh_ip())
    others = [seed_user(runtime).email for _ in range(3)]
    calls = [_login(sprayer, other, "summer-2024-password") for other in others]
    calls.append(_login(sprayer, email, PASSWORD))
    elsewhere = _login(limited.client(app, fresh_ip()), email, PASSWORD)
    assert [r.status_code for r in calls[:3]] == [401, 401, 401]
    _assert_throttled(calls[3])
    assert elsewhere.status_code == 200


def test_successful_logins_count_too(limited: Limited) -> None:
    app, runtime = limited.app(rate_limit_login_per_minute=3)

    email = seed_user(runtime).email
    client = limited.client(app, fresh_ip())
    codes = [_login(client, email, PASSWORD).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


# --- shared through Redis ----------------------------------------------------------------------


class RedisKeys:
    """Remembers which key fragments a test used, and deletes their keys at the end."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._fragments: list[str] = []

    def track(self, fragment: str) -> str:
        """Note a key fragment (an address or user id); returns it."""
        self._fragments.append(fragment)
        return fragment

    def clean(self) -> None:
        """Delete every rate-limit key containing a tracked fragment."""
        for fragment in self._fragments:
            for key in self._client.scan_iter(match=f"fw:rl:*/{fragment}/*"):
                self._client.delete(key)
        self._client.close()


@pytest.fixture
def redis_keys() -> Iterator[RedisKeys]:
    """Key bookkeeping on the test Redis (skipped locally without one, required in CI)."""
    keys = RedisKeys(service_url("FOREWARN_TEST_REDIS_URL"))
    yield keys
    keys.clean()


def test_limits_are_shared_by_app_instances_through_redis(
    limited: Limited, redis_keys: RedisKeys
) -> None:
    url = service_url("FOREWARN_TEST_REDIS_URL")
    limits = {"redis_url": url, "rate_limit_user_per_minute": 3, "rate_limit_ip_per_minute": 3}
    first_app, runtime = limited.app(**limits)
    second_app, _ = limited.app(**limits)  # another process: its own runtime and connection

    ip = redis_keys.track(fresh_ip())
    by_address = [limited.client(first_app, ip).get(HEALTH).status_code for _ in range(3)]
    by_address.append(limited.client(second_app, ip).get(HEALTH).status_code)

    user = seed_user(runtime)
    alice = user.headers
    redis_keys.track(str(user.id))
    by_user = [
        limited.client(app, redis_keys.track(fresh_ip())).get(ME, headers=alice).status_code
        for app in (first_app, first_app, first_app, second_app)
    ]
    assert by_address == [200, 200, 200, 429]
    assert by_user == [200, 200, 200, 429]


def test_memory_limits_are_per_process(limited: Limited) -> None:
    """Without Redis each app instance counts alone (what the Redis test guards against)."""
    first_app, _ = limited.app(rate_limit_ip_per_minute=3)
    second_app, _ = limited.app(rate_limit_ip_per_minute=3)

    ip = fresh_ip()
    codes = [limited.client(first_app, ip).get(HEALTH).status_code for _ in range(3)]
    codes.append(limited.client(second_app, ip).get(HEALTH).status_code)
    assert codes == [200, 200, 200, 200]
