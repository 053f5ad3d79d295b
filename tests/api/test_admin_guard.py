"""The last active admin cannot be removed, demoted or disabled; devices refuse null names."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from forewarn.security.roles import Role

Factory = Callable[[Role], tuple[uuid.UUID, dict[str, str]]]
USERS = "/api/v1/users"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "body"),
    [("DELETE", None), ("PATCH", {"role": "operator"}), ("PATCH", {"is_active": False})],
)
def test_last_admin_is_kept(
    client: TestClient, make_user: Factory, method: str, body: dict[str, object] | None
) -> None:
    admin_id, admin = make_user(Role.ADMIN)
    response = client.request(method, f"{USERS}/{admin_id}", headers=admin, json=body)
    assert response.status_code == 409, response.text
    assert "last active admin" in response.json()["detail"]
    assert client.get(f"{USERS}/{admin_id}", headers=admin).json()["role"] == "admin"


def test_an_admin_can_step_down_when_another_remains(
    client: TestClient, make_user: Factory
) -> None:
    first_id, first = make_user(Role.ADMIN)
    _, second = make_user(Role.ADMIN)
    demoted = client.patch(f"{USERS}/{first_id}", headers=first, json={"role": "viewer"})
    assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
    assert client.get(USERS, headers=first).status_code == 403
    assert client.get(USERS, headers=second).status_code == 200


@pytest.mark.parametrize("field", ["name", "type", "metadata"])
def test_device_patch_refuses_null_for_required_fields(
    client: TestClient, admin: dict[str, str], field: str
) -> None:
    device = client.post(
        "/api/v1/devices", headers=admin, json={"name": "Pump 3", "type": "pump"}
    ).json()
    response = client.patch(f"/api/v1/devices/{device['id']}", headers=admin, json={field: None})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    cleared = client.patch(
        f"/api/v1/devices/{device['id']}", headers=admin, json={"location": None}
    )
    assert cleared.status_code == 200 and cleared.json()["name"] == "Pump 3"


def test_protected_operations_document_auth_failures(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if operation.get("security"):
                assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
