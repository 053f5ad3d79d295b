"""Login and bearer tokens over HTTP; every route but login, health and docs needs a token."""

from __future__ import annotations

import base64
import json
import re
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import fastapi.routing
import httpx
import pytest
from fastapi.testclient import TestClient

from forewarn.runtime import Runtime
from forewarn.schemas.auth import UserUpdate
from forewarn.security.principals import PrincipalCache
from forewarn.security.roles import Role
from forewarn.security.tokens import issue_token, verify_token
from forewarn.services.users import delete_user, update_user
from tests.factories import PASSWORD, seed_user

API = "/api/v1"
LOGIN = f"{API}/auth/login"
ME = f"{API}/auth/me"
OPEN_PATHS = {LOGIN, f"{API}/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}

Headers = dict[str, str]


def _bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def _assert_unauthorized(response: httpx.Response, detail: str | None = None) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    if detail is not None:
        assert response.json()["detail"] == detail


# --- login -------------------------------------------------------------------------------


def test_login_returns_a_bearer_token_that_works(client: TestClient, runtime: Runtime) -> None:
    user = seed_user(runtime, Role.OPERATOR)
    response = client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == runtime.settings.access_token_expire_minutes * 60

    claims = verify_token(runtime.secret, body["access_token"])
    remaining = (claims.expires_at - datetime.now(UTC)).total_seconds()
    assert body["expires_in"] - 5 <= remaining <= body["expires_in"]

    me = client.get(ME, headers=_bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == str(user.id)
    assert me.json()["email"] == user.email
    assert me.json()["role"] == "operator"


def test_login_email_ignores_case_and_surrounding_spaces(
    client: TestClient, runtime: Runtime
) -> None:
    email = seed_user(runtime).email
    response = client.post(LOGIN, json={"email": f"  {email.upper()} ", "password": PASSWORD})
    assert response.status_code == 200, response.text


def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: TestClient, runtime: Runtime
) -> None:
    email = seed_user(runtime).email
    wrong = client.post(LOGIN, json={"email": email, "password": PASSWORD + "x"})
    unknown = client.post(LOGIN, json={"email": "nobody@example.com", "password": PASSWORD})
    _assert_unauthorized(wrong, "incorrect email or password")
    _assert_unauthorized(unknown, "incorrect email or password")


def test_disabled_user_cannot_log_in(client: TestClient, runtime: Runtime) -> None:
    user = seed_user(runtime)
    with runtime.sessions() as session:
        update_user(session, user.id, UserUpdate(is_active=False))
    response = client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    _assert_unauthorized(response, "incorrect email or password")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"email", "password"}),
        ({"password": PASSWORD}, {"email"}),
        ({"email": "a@example.com"}, {"password"}),
        ({"email": "not-an-email", "password": PASSWORD}, {"email"}),
        ({"email": "a@example.com", "password": ""}, {"password"}),
        ({"email": 42, "password": PASSWORD}, {"email"}),
        ({"email": "a@example.com", "password": None}, {"password"}),
    ],
    ids=["empty", "no-email", "no-password", "bad-email", "empty-password", "email-int", "null"],
)
def test_login_with_missing_or_invalid_fields_names_them(
    client: TestClient, body: dict[str, object], fields: set[str]
) -> None:
    response = client.post(LOGIN, json=body)
    assert response.status_code == 422, response.text
    named = {err["loc"][-1] for err in response.json()["detail"]}
    assert named == fields
    assert all(err["loc"][0] == "body" and err["msg"] for err in response.json()["detail"])


# --- tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_scheme_is_case_insensitive(
    client: TestClient, runtime: Runtime, scheme: str
) -> None:
    user_id = seed_user(runtime).id
    token = issue_token(runtime.secret, user_id, Role.VIEWER, timedelta(minutes=5))
    assert client.get(ME, headers={"Authorization": f"{scheme} {token}"}).status_code == 200


def test_missing_token_is_401_with_bearer_challenge(client: TestClient) -> None:
    _assert_unauthorized(client.get(ME))


@pytest.mark.parametrize(
    "authorization",
    ["Bearer garbage", "Bearer ", "Bearer a.b.c", "Basic dXNlcjpwYXNz", "Token abc", "garbage"],
)
def test_malformed_authorization_is_401(client: TestClient, authorization: str) -> None:
    _assert_unauthorized(client.get(ME, headers={"Authorization": authorization}))


def test_expired_token_is_401(client: TestClient, runtime: Runtime) -> None:
    user_id = seed_user(runtime).id
    issued = datetime.now(UTC) - timedelta(hours=2)
    token = issue_token(runtime.secret, user_id, Role.VIEWER, timedelta(hours=1), now=issued)
    _assert_unauthorized(client.get(ME, headers=_bearer(token)), "token expired")


def test_token_is_still_valid_just_before_expiry(client: TestClient, runtime: Runtime) -> None:
    user_id = seed_user(runtime).id
    issued = datetime.now(UTC) - timedelta(minutes=59)
    token = issue_token(runtime.secret, user_id, Role.VIEWER, timedelta(hours=1), now=issued)
    assert client.get(ME, headers=_bearer(token)).status_code == 200


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize("part", [1, 2], ids=["payload", "signature"])
def test_tampered_token_is_401(client: TestClient, runtime: Runtime, part: int) -> None:
    user_id = seed_user(runtime).id
    pieces = issue_token(runtime.secret, user_id, Role.VIEWER, timedelta(minutes=5)).split(".")
    pieces[part] = _flip(pieces[part], len(pieces[part]) // 2)
    _assert_unauthorized(client.get(ME, headers=_bearer(".".join(pieces))), "invalid token")


def test_viewer_cannot_forge_an_admin_claim(client: TestClient, runtime: Runtime) -> None:
    user_id = seed_user(runtime, Role.VIEWER).id
    header, payload, signature = issue_token(
        runtime.secret, user_id, Role.VIEWER, timedelta(minutes=5)
    ).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "role": "admin"}).encode())
    token = f"{header}.{forged.rstrip(b'=').decode()}.{signature}"
    _assert_unauthorized(client.get(f"{API}/users", headers=_bearer(token)))


def test_token_signed_with_another_secret_is_401(client: TestClient, runtime: Runtime) -> None:
    user_id = seed_user(runtime, Role.ADMIN).id
    token = issue_token(secrets.token_urlsafe(40), user_id, Role.ADMIN, timedelta(minutes=5))
    _assert_unauthorized(client.get(ME, headers=_bearer(token)), "invalid token")


class _Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(runtime: Runtime) -> _Clock:
    """Give the runtime a user cache on a hand-moved clock."""
    clock = _Clock()
    ttl = runtime.settings.auth_cache_ttl_s
    runtime.principals = PrincipalCache(runtime.sessions, ttl, clock=clock)
    return clock


def test_token_of_a_deleted_user_is_401(client: TestClient, runtime: Runtime) -> None:
    admin = seed_user(runtime, Role.ADMIN)
    user_id = seed_user(runtime).id
    token = issue_token(runtime.secret, user_id, Role.VIEWER, timedelta(minutes=5))
    assert client.get(ME, headers=_bearer(token)).status_code == 200
    response = client.delete(f"{API}/users/{user_id}", headers=admin.headers)
    assert response.status_code == 204, response.text
    _assert_unauthorized(client.get(ME, headers=_bearer(token)))


def test_a_user_deleted_by_another_process_is_refused_within_the_cache_ttl(
    client: TestClient, runtime: Runtime, clock: _Clock
) -> None:
    user_id = seed_user(runtime).id
    token = issue_token(runtime.secret, user_id, Role.VIEWER, timedelta(minutes=5))
    assert client.get(ME, headers=_bearer(token)).status_code == 200
    with runtime.sessions() as session:  # as the CLI or another API process would
        delete_user(session, user_id)
    # Within the TTL the cached answer may still admit the token, but never past it.
    clock.now += runtime.settings.auth_cache_ttl_s + 0.001
    _assert_unauthorized(client.get(ME, headers=_bearer(token)))


def test_token_of_a_user_who_never_existed_is_401(client: TestClient, runtime: Runtime) -> None:
    token = issue_token(runtime.secret, uuid.uuid4(), Role.ADMIN, timedelta(minutes=5))
    _assert_unauthorized(client.get(f"{API}/users", headers=_bearer(token)))


def test_disabling_a_user_revokes_its_token_at_once(client: TestClient, runtime: Runtime) -> None:
    admin = seed_user(runtime, Role.ADMIN)
    user_id = seed_user(runtime).id
    token = issue_token(runtime.secret, user_id, Role.VIEWER, timedelta(minutes=5))
    assert client.get(ME, headers=_bearer(token)).status_code == 200
    response = client.patch(
        f"{API}/users/{user_id}", json={"is_active": False}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    _assert_unauthorized(client.get(ME, headers=_bearer(token)))


def test_a_user_disabled_by_another_process_is_refused_after_the_cache_ttl(
    client: TestClient, runtime: Runtime, clock: _Clock
) -> None:
    user_id = seed_user(runtime).id
    token = issue_token(runtime.secret, user_id, Role.VIEWER, timedelta(minutes=5))
    assert client.get(ME, headers=_bearer(token)).status_code == 200
    with runtime.sessions() as session:
        update_user(session, user_id, UserUpdate(is_active=False))
    clock.now += runtime.settings.auth_cache_ttl_s / 2
    assert client.get(ME, headers=_bearer(token)).status_code == 200  # cached, as documented
    clock.now += runtime.settings.auth_cache_ttl_s
    _assert_unauthorized(client.get(ME, headers=_bearer(token)))


def test_a_zero_ttl_reads_the_user_on_every_request(client: TestClient, runtime: Runtime) -> None:
    runtime.principals = PrincipalCache(runtime.sessions, 0.0)
    user_id = seed_user(runtime).id
    token = issue_token(runtime.secret, user_id, Role.VIEWER, timedelta(minutes=5))
    assert client.get(ME, headers=_bearer(token)).status_code == 200
    with runtime.sessions() as session:
        update_user(session, user_id, UserUpdate(is_active=False))
    _assert_unauthorized(client.get(ME, headers=_bearer(token)))


# --- which routes are open -----------------------------------------------------------------


def _concrete(path: str) -> str:
    """A path with every {param} replaced by a fresh UUID."""
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def _route_table(client: TestClient) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, included routers flattened."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", lambda routes: routes)
    return {
        (method, route.path)
        for route in flatten(client.app.routes)  # type: ignore[attr-defined]
        if getattr(route, "methods", None)
        for method in route.methods
    }


def _protected_calls(client: TestClient) -> list[tuple[str, str]]:
    return sorted((m, path) for m, path in _route_table(client) if path not in OPEN_PATHS)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["no-token", "garbage-token", "basic-auth"],
)
def test_every_route_except_login_health_docs_needs_a_token(
    client: TestClient, headers: Headers
) -> None:
    answered = {}
    for method, path in _protected_calls(client):
        body: dict[str, object] | None = {} if method in {"POST", "PUT", "PATCH"} else None
        response = client.request(method, _concrete(path), json=body, headers=headers)
        answered[(method, path)] = (response.status_code, response.headers.get("WWW-Authenticate"))
    wrong = {call: got for call, got in answered.items() if got != (401, "Bearer")}
    assert wrong == {}


@pytest.mark.slow
def test_open_routes_answer_without_a_token(client: TestClient) -> None:
    health = client.get(f"{API}/health")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    # Login is reachable (it judges the credentials, not a token).
    login = client.post(LOGIN, json={"email": "nobody@example.com", "password": PASSWORD})
    assert login.json()["detail"] == "incorrect email or password"


def test_route_table_sees_every_included_router(client: TestClient) -> None:
    """The guard above must see the routes it protects, or it proves nothing."""
    table = _route_table(client)
    assert {("POST", LOGIN), ("GET", f"{API}/health"), ("GET", "/openapi.json")} <= table
    assert {("GET", ME), ("DELETE", f"{API}/users/{{user_id}}"), ("POST", f"{API}/ml/predict")} <= (
        set(_protected_calls(client))
    )
    assert len(_protected_calls(client)) >= 20


Factory = Callable[[Role], tuple[uuid.UUID, Headers]]


def test_make_user_headers_pass_the_guard(client: TestClient, make_user: Factory) -> None:
    """The token the other tests rely on is accepted (the guard is not simply closed)."""
    user_id, headers = make_user(Role.VIEWER)
    assert client.get(ME, headers=headers).json()["id"] == str(user_id)
