"""Device registry over HTTP: CRUD, cascading delete, roles and every bad input."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forewarn.runtime import Runtime
from tests.api.helpers import DEVICES, artifact_files, locs, predict, row_counts, telemetry_url
from tests.factories import Headers, normal_readings, register_device, send_readings, trained_model

PUMP = {
    "name": "Pump 07",
    "type": "pump",
    "location": "Hall B",
    "metadata": {"vendor": "Grundfos", "rpm": 2900, "tags": ["cooling"]},
}


def test_create_returns_201_with_id_and_the_fields(client: TestClient, admin: Headers) -> None:
    before = datetime.now().astimezone()
    response = client.post(DEVICES, json=PUMP, headers=admin)
    assert response.status_code == 201, response.text
    device = response.json()
    assert uuid.UUID(device["id"]).version == 4
    assert {key: device[key] for key in PUMP} == PUMP
    created = datetime.fromisoformat(device["created_at"])
    assert before - timedelta(seconds=2) <= created <= datetime.now().astimezone()


def test_optional_fields_default_to_none_and_empty(client: TestClient, admin: Headers) -> None:
    response = client.post(DEVICES, json={"name": " Fan 2 ", "type": "fan"}, headers=admin)
    assert response.status_code == 201, response.text
    device = response.json()
    assert device["name"] == "Fan 2"  # surrounding blanks are not part of a name
    assert device["location"] is None and device["metadata"] == {}


def test_list_pages_oldest_first_with_total_count(client: TestClient, admin: Headers) -> None:
    ids = [register_device(client, admin, name=f"Sensor {i}") for i in range(5)]

    def page(**params: Any) -> dict[str, Any]:
        response = client.get(DEVICES, params=params, headers=admin)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    everything = page()
    assert [d["id"] for d in everything["data"]] == ids and everything["count"] == 5
    first = page(limit=2)
    assert [d["id"] for d in first["data"]] == ids[:2] and first["count"] == 5
    middle = page(limit=2, offset=2)
    assert [d["id"] for d in middle["data"]] == ids[2:4] and middle["count"] == 5
    assert [d["id"] for d in page(limit=2, offset=4)["data"]] == ids[4:]
    beyond = page(offset=10)
    assert beyond["data"] == [] and beyond["count"] == 5


def test_list_filters_by_exact_name(client: TestClient, admin: Headers) -> None:
    boilers = [register_device(client, admin, name="Boiler") for _ in range(2)]
    register_device(client, admin, name="Boiler 2")
    register_device(client, admin, name="boiler")
    response = client.get(DEVICES, params={"name": "Boiler"}, headers=admin)
    assert response.status_code == 200
    assert [d["id"] for d in response.json()["data"]] == boilers
    assert response.json()["count"] == 2
    none = client.get(DEVICES, params={"name": "Chiller"}, headers=admin).json()
    assert none == {"data": [], "count": 0}


def test_list_rejects_bad_paging(
    client: TestClient, admin: Headers, subtests: pytest.Subtests
) -> None:
    bad = [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "ten"}, {"name": "n" * 201}]
    for params in bad:
        with subtests.test(params=params):
            response = client.get(DEVICES, params=params, headers=admin)
            assert locs(response) == [["query", next(iter(params))]]


def test_get_patch_and_delete(client: TestClient, admin: Headers) -> None:
    device = client.post(DEVICES, json=PUMP, headers=admin).json()
    url = f"{DEVICES}/{device['id']}"
    assert client.get(url, headers=admin).json() == device

    patched = client.patch(
        url, json={"location": "Hall C", "metadata": {"rpm": 1450}}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    expected = {**device, "location": "Hall C", "metadata": {"rpm": 1450}}
    assert patched.json() == expected
    assert client.get(url, headers=admin).json() == expected

    renamed = client.patch(url, json={"name": "Pump 08", "type": "booster"}, headers=admin)
    assert renamed.json() == {**expected, "name": "Pump 08", "type": "booster"}
    cleared = client.patch(url, json={"location": None}, headers=admin)
    assert cleared.json()["location"] is None and cleared.json()["name"] == "Pump 08"

    deleted = client.delete(url, headers=admin)
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get(url, headers=admin).status_code == 404
    assert client.delete(url, headers=admin).status_code == 404
    assert client.patch(url, json={"name": "x"}, headers=admin).status_code == 404
    assert client.get(DEVICES, headers=admin).json()["count"] == 0


def test_delete_removes_telemetry_models_files_and_anomalies(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    doomed = register_device(client, admin, name="Doomed")
    kept = register_device(client, admin, name="Kept")
    for device in (doomed, kept):
        model = trained_model(client, admin, device, normal_readings(400))
        retrained = trained_model(client, admin, device)  # two versions, two files
        assert retrained["version"] == 2 and model["is_active"]
        send_readings(client, admin, device, normal_readings(20, seed=1), metric="humidity")
        hot = predict(client, admin, device, 80.0)  # the reading is stored too
        assert hot.status_code == 200 and hot.json()["is_anomaly"] is True
    before = row_counts(runtime, kept)
    assert row_counts(runtime, doomed) == before == {"telemetry": 421, "models": 2, "anomalies": 1}
    assert len(artifact_files(runtime, doomed)) == 2

    assert client.delete(f"{DEVICES}/{doomed}", headers=admin).status_code == 204

    assert row_counts(runtime, doomed) == {"telemetry": 0, "models": 0, "anomalies": 0}
    assert not (runtime.registry.model_dir / doomed).exists()
    assert row_counts(runtime, kept) == before
    assert len(artifact_files(runtime, kept)) == 2
    # The deleted device's model must not keep scoring from a cache.
    assert predict(client, admin, doomed, 80.0).status_code == 404
    assert predict(client, admin, kept, 80.0).status_code == 200


BAD_CREATE = [
    ({"type": "pump"}, "name"),
    ({"name": "Pump"}, "type"),
    ({"name": "", "type": "pump"}, "name"),
    ({"name": "   ", "type": "pump"}, "name"),
    ({"name": "n" * 201, "type": "pump"}, "name"),
    ({"name": "Pump", "type": ""}, "type"),
    ({"name": "Pump", "type": "t" * 101}, "type"),
    ({"name": "Pump", "type": "pump", "location": "l" * 201}, "location"),
    ({"name": 42, "type": "pump"}, "name"),
    ({"name": "Pump", "type": ["pump"]}, "type"),
    ({"name": "Pump", "type": "pump", "location": 7}, "location"),
    ({"name": "Pump", "type": "pump", "metadata": "vendor=Grundfos"}, "metadata"),
    ({"name": "Pump", "type": "pump", "metadata": [1, 2]}, "metadata"),
]


def test_create_rejects_bad_input_naming_the_field(
    client: TestClient, admin: Headers, subtests: pytest.Subtests
) -> None:
    for body, field in BAD_CREATE:
        with subtests.test(body=body):
            response = client.post(DEVICES, json=body, headers=admin)
            assert locs(response) == [["body", field]]
    assert client.get(DEVICES, headers=admin).json()["count"] == 0


def test_create_rejects_a_body_that_is_not_an_object(client: TestClient, admin: Headers) -> None:
    assert locs(client.post(DEVICES, json=[PUMP], headers=admin)) == [["body"]]
    garbled = client.post(
        DEVICES, content=b"{name: Pump", headers={**admin, "content-type": "application/json"}
    )
    assert garbled.status_code == 422 and garbled.json()["detail"][0]["loc"][0] == "body"


BAD_PATCH = [
    ({"name": ""}, "name"),
    ({"type": "t" * 101}, "type"),
    ({"location": "l" * 201}, "location"),
    ({"metadata": "x"}, "metadata"),
    ({"name": 3.5}, "name"),
]


def test_patch_rejects_bad_input_and_changes_nothing(
    client: TestClient, admin: Headers, subtests: pytest.Subtests
) -> None:
    device = client.post(DEVICES, json=PUMP, headers=admin).json()
    url = f"{DEVICES}/{device['id']}"
    for body, field in BAD_PATCH:
        with subtests.test(body=body):
            assert locs(client.patch(url, json=body, headers=admin)) == [["body", field]]
    assert client.get(url, headers=admin).json() == device


def test_unknown_id_is_404_everywhere(client: TestClient, admin: Headers) -> None:
    url = f"{DEVICES}/{uuid.uuid4()}"
    for response in (
        client.get(url, headers=admin),
        client.patch(url, json={"name": "x"}, headers=admin),
        client.delete(url, headers=admin),
    ):
        assert response.status_code == 404, response.text
        assert "not found" in response.json()["detail"]


def test_malformed_id_is_422_naming_the_path(
    client: TestClient, admin: Headers, subtests: pytest.Subtests
) -> None:
    for bad_id in ["not-a-uuid", "123", "3f2b8c1e-8a4d-4e0b-9f6a-2c5d7e9a1b3"]:
        url = f"{DEVICES}/{bad_id}"
        with subtests.test(bad_id=bad_id):
            for response in (
                client.get(url, headers=admin),
                client.patch(url, json={"name": "x"}, headers=admin),
                client.delete(url, headers=admin),
                client.get(telemetry_url(bad_id), headers=admin),
            ):
                assert locs(response) == [["path", "device_id"]]


def test_everyone_reads_only_admins_manage(
    client: TestClient, admin: Headers, operator: Headers, viewer: Headers
) -> None:
    device = register_device(client, admin, name="Pump 07")
    url = f"{DEVICES}/{device}"
    for headers in (operator, viewer):
        assert client.get(DEVICES, headers=headers).json()["count"] == 1
        assert client.get(url, headers=headers).status_code == 200
        assert client.post(DEVICES, json=PUMP, headers=headers).status_code == 403
        assert client.patch(url, json={"name": "x"}, headers=headers).status_code == 403
        assert client.delete(url, headers=headers).status_code == 403
    assert client.get(DEVICES).status_code == 401
    assert client.get(url, headers=admin).json()["name"] == "Pump 07"
