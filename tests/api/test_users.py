"""User management over HTTP (admin only): create, list, get, update, delete."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from forewarn.db.models import User
from forewarn.runtime import Runtime
from forewarn.security.roles import Role
from tests.factories import PASSWORD, cheap_password_hash, seed_user

USERS = "/api/v1/users"
LOGIN = "/api/v1/auth/login"
NEW_PASSWORD = "another-long-passphrase"
PUBLIC_FIELDS = {"id", "email", "role", "is_active", "created_at"}

Headers = dict[str, str]


@pytest.fixture
def admin(runtime: Runtime) -> Headers:
    """Headers of the admin root@example.com."""
    return seed_user(runtime, Role.ADMIN, email="root@example.com").headers


@pytest.fixture
def user(client: TestClient, runtime: Runtime, admin: Headers) -> dict[str, Any]:
    """An operator ada@example.com with PASSWORD, as GET /users/{id} shows it."""
    user_id = seed_user(runtime, Role.OPERATOR, email="ada@example.com").id
    fetched: dict[str, Any] = client.get(f"{USERS}/{user_id}", headers=admin).json()
    return fetched


def _create(
    client: TestClient, admin: Headers, email: str = "ada@example.com", **fields: Any
) -> httpx.Response:
    body = {"email": email, "role": "operator", "password": PASSWORD, **fields}
    response: httpx.Response = client.post(USERS, headers=admin, json=body)
    return response


def _login(client: TestClient, email: str, password: str) -> int:
    response: httpx.Response = client.post(LOGIN, json={"email": email, "password": password})
    return response.status_code


def _stored_hash(runtime: Runtime, user: dict[str, Any]) -> str:
    with runtime.sessions() as session:
        row = session.get(User, uuid.UUID(str(user["id"])))
        assert row is not None
        return row.password_hash


def _named_fields(response: httpx.Response) -> list[tuple[str | int, ...]]:
    return [tuple(err["loc"]) for err in response.json()["detail"]]


def test_create_returns_the_public_user_without_any_password(
    client: TestClient, admin: Headers
) -> None:
    response = _create(client, admin, email="  Ada.Lovelace@Example.COM ")
    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == PUBLIC_FIELDS
    assert user["email"] == "ada.lovelace@example.com"
    assert user["role"] == "operator" and user["is_active"] is True
    uuid.UUID(user["id"])
    assert "argon2" not in response.text and PASSWORD not in response.text
    assert _login(client, "ada.lovelace@example.com", PASSWORD) == 200


def test_role_defaults_to_viewer(client: TestClient, admin: Headers) -> None:
    response = client.post(
        USERS, headers=admin, json={"email": "v@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201 and response.json()["role"] == "viewer"


def test_duplicate_email_is_409_whatever_its_case(client: TestClient, admin: Headers) -> None:
    assert _create(client, admin).status_code == 201
    again = _create(client, admin, email="ADA@example.com", role="viewer")
    assert again.status_code == 409
    assert "ada@example.com" in again.json()["detail"]
    listed = client.get(USERS, headers=admin).json()
    assert [u["email"] for u in listed["data"]].count("ada@example.com") == 1


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"password": "short-pass"}, ("body", "password")),
        ({"password": "  padded-password-12"}, ("body", "password")),
        ({"role": "root"}, ("body", "role")),
        ({"email": "not-an-email"}, ("body", "email")),
        ({"password": None}, ("body", "password")),
        ({"is_superuser": True, "role": "superuser"}, ("body", "role")),
    ],
    ids=["short-password", "padded-password", "bad-role", "bad-email", "null-password", "extra"],
)
def test_invalid_new_user_is_422_naming_the_field(
    client: TestClient, admin: Headers, fields: dict[str, Any], loc: tuple[str, ...]
) -> None:
    response = _create(client, admin, **fields)
    assert response.status_code == 422, response.text
    assert _named_fields(response) == [loc]
    assert client.get(USERS, headers=admin).json()["count"] == 1  # only the admin


def test_short_password_message_says_the_minimum(client: TestClient, admin: Headers) -> None:
    response = _create(client, admin, password="x" * 11)
    assert "12" in response.json()["detail"][0]["msg"]


def test_list_returns_data_and_total_count(
    client: TestClient, runtime: Runtime, admin: Headers
) -> None:
    for n in range(2):
        seed_user(runtime, Role.OPERATOR, email=f"user{n}@example.com")
    listed = client.get(USERS, headers=admin)
    assert listed.status_code == 200
    body = listed.json()
    assert set(body) == {"data", "count"}
    assert body["count"] == 3 and len(body["data"]) == 3
    assert all(set(u) == PUBLIC_FIELDS for u in body["data"])
    assert {"user0@example.com", "user1@example.com"} < {u["email"] for u in body["data"]}

    page = client.get(USERS, headers=admin, params={"limit": 1, "offset": 2}).json()
    assert page["count"] == 3 and len(page["data"]) == 1
    assert page["data"][0]["email"] == "user1@example.com"  # oldest first


def test_get_returns_the_created_user(client: TestClient, admin: Headers) -> None:
    created = _create(client, admin).json()
    fetched = client.get(f"{USERS}/{created['id']}", headers=admin)
    assert fetched.status_code == 200 and fetched.json() == created


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_user_is_404(client: TestClient, admin: Headers, method: str) -> None:
    missing = uuid.uuid4()
    body = {"role": "viewer"} if method == "PATCH" else None
    response = client.request(method, f"{USERS}/{missing}", headers=admin, json=body)
    assert response.status_code == 404
    assert str(missing) in response.json()["detail"]


def test_malformed_user_id_is_422(client: TestClient, admin: Headers) -> None:
    response = client.get(f"{USERS}/42", headers=admin)
    assert response.status_code == 422
    assert _named_fields(response) == [("path", "user_id")]


def test_patch_changes_only_the_given_fields(
    client: TestClient, admin: Headers, user: dict[str, Any]
) -> None:
    patched = client.patch(f"{USERS}/{user['id']}", headers=admin, json={"role": "admin"})
    assert patched.status_code == 200
    assert patched.json() == {**user, "role": "admin"}
    assert client.get(f"{USERS}/{user['id']}", headers=admin).json()["role"] == "admin"


def test_patch_is_active_false_blocks_login_and_true_restores_it(
    client: TestClient, admin: Headers, user: dict[str, Any]
) -> None:
    off = client.patch(f"{USERS}/{user['id']}", headers=admin, json={"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert _login(client, user["email"], PASSWORD) == 401
    client.patch(f"{USERS}/{user['id']}", headers=admin, json={"is_active": True})
    assert _login(client, user["email"], PASSWORD) == 200


@pytest.mark.slow
def test_patch_password_replaces_the_old_one(
    client: TestClient, admin: Headers, user: dict[str, Any]
) -> None:
    patched = client.patch(f"{USERS}/{user['id']}", headers=admin, json={"password": NEW_PASSWORD})
    assert patched.status_code == 200
    assert NEW_PASSWORD not in patched.text and "argon2" not in patched.text
    assert _login(client, user["email"], NEW_PASSWORD) == 200
    assert _login(client, user["email"], PASSWORD) == 401


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"password": "short"}, ("body", "password")),
        ({"password": " " + NEW_PASSWORD}, ("body", "password")),
        ({"role": "owner"}, ("body", "role")),
        ({"is_active": "maybe"}, ("body", "is_active")),
        (
            {"role": "admin", "is_active": False, "password": NEW_PASSWORD + " "},
            ("body", "password"),
        ),
    ],
    ids=["short-password", "padded-password", "bad-role", "bad-is-active", "valid-and-invalid"],
)
def test_invalid_patch_is_422_and_changes_nothing(
    client: TestClient,
    runtime: Runtime,
    admin: Headers,
    user: dict[str, Any],
    body: dict[str, Any],
    loc: tuple[str, ...],
) -> None:
    response = client.patch(f"{USERS}/{user['id']}", headers=admin, json=body)
    assert response.status_code == 422, response.text
    assert _named_fields(response) == [loc]
    assert client.get(f"{USERS}/{user['id']}", headers=admin).json() == user
    assert _stored_hash(runtime, user) == cheap_password_hash()


def test_delete_removes_the_user(client: TestClient, admin: Headers, user: dict[str, Any]) -> None:
    deleted = client.delete(f"{USERS}/{user['id']}", headers=admin)
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get(f"{USERS}/{user['id']}", headers=admin).status_code == 404
    assert client.delete(f"{USERS}/{user['id']}", headers=admin).status_code == 404
    assert _login(client, user["email"], PASSWORD) == 401
    assert client.get(USERS, headers=admin).json()["count"] == 1


def test_deleted_email_can_be_registered_again(
    client: TestClient, admin: Headers, user: dict[str, Any]
) -> None:
    client.delete(f"{USERS}/{user['id']}", headers=admin)
    second = _create(client, admin)
    assert second.status_code == 201 and second.json()["id"] != user["id"]
