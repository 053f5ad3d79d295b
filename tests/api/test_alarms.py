"""Alarms over HTTP: acknowledge, clear, assign and comment as an operator; viewers read;
illegal steps name the field; unknown ids are 404; filters and paging."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.alerting.helpers import ALARMS, JSON, Plant, alarm, alarms
from tests.api.helpers import locs
from tests.factories import Headers

HOT = 60.0


@pytest.fixture
def plant(client: TestClient, admin: Headers) -> Plant:
    """A pump with a trained model and ten normal readings."""
    plant = Plant(client, admin)
    plant.normal(10)
    return plant


def raised(client: TestClient, headers: Headers, plant: Plant) -> JSON:
    """An excursion's open alarm."""
    plant.hot(HOT)
    (found,) = alarms(client, headers, status="ACTIVE_UNACK")["data"]
    return found


def test_ack_of_an_active_alarm_then_the_clear(
    client: TestClient, admin: Headers, operator: Headers, plant: Plant
) -> None:
    open_alarm = raised(client, admin, plant)
    response = client.post(f"{ALARMS}/{open_alarm['id']}/ack", headers=operator)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ACTIVE_ACK"
    assert response.json()["ack_ts"] is not None
    plant.normal(30, seed=2)
    assert alarm(client, admin, open_alarm["id"])["status"] == "CLEARED_ACK"


def test_ack_of_a_cleared_alarm_closes_it_and_a_second_ack_is_refused(
    client: TestClient, admin: Headers, operator: Headers, plant: Plant
) -> None:
    alarm_id = raised(client, admin, plant)["id"]
    plant.normal(30, seed=2)
    assert alarm(client, admin, alarm_id)["status"] == "CLEARED_UNACK"
    response = client.post(f"{ALARMS}/{alarm_id}/ack", headers=operator)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "CLEARED_ACK"
    again = client.post(f"{ALARMS}/{alarm_id}/ack", headers=operator)
    assert again.status_code == 422
    assert locs(again) == [["status"]]
    trail = alarm(client, admin, alarm_id)["audit"]
    assert trail[-1]["action"] == "acknowledge"
    assert trail[-1]["actor"] != "system"


def test_clear_by_hand_then_clear_again_is_refused(
    client: TestClient, admin: Headers, operator: Headers, plant: Plant
) -> None:
    alarm_id = raised(client, admin, plant)["id"]
    response = client.post(f"{ALARMS}/{alarm_id}/clear", headers=operator)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "CLEARED_UNACK"
    again = client.post(f"{ALARMS}/{alarm_id}/clear", headers=operator)
    assert (again.status_code, locs(again)) == (422, [["status"]])


def test_assign_and_comment_are_audited(
    client: TestClient, admin: Headers, operator: Headers, plant: Plant
) -> None:
    alarm_id = raised(client, admin, plant)["id"]
    url = f"{ALARMS}/{alarm_id}"
    response = client.post(f"{url}/assign", json={"assignee": "ann"}, headers=operator)
    assert (response.status_code, response.json()["assignee"]) == (200, "ann")
    response = client.post(f"{url}/comments", json={"text": "valve checked"}, headers=operator)
    assert response.status_code == 200, response.text
    trail = response.json()["audit"]
    assert [(e["action"], e["after"]) for e in trail[-2:]] == [
        ("assign", "ann"),
        ("comment", "valve checked"),
    ]
    blank = client.post(f"{url}/assign", json={"assignee": "  "}, headers=operator)
    assert (blank.status_code, locs(blank)) == (422, [["body", "assignee"]])
    blank = client.post(f"{url}/comments", json={"text": "  "}, headers=operator)
    assert (blank.status_code, locs(blank)) == (422, [["body", "text"]])


def test_viewers_read_but_do_not_act(
    client: TestClient, admin: Headers, viewer: Headers, plant: Plant
) -> None:
    alarm_id = raised(client, admin, plant)["id"]
    assert alarms(client, viewer)["count"] == 1
    assert alarm(client, viewer, alarm_id)["id"] == alarm_id
    for action, body in (("ack", None), ("clear", None), ("assign", {"assignee": "ann"})):
        response = client.post(f"{ALARMS}/{alarm_id}/{action}", json=body, headers=viewer)
        assert response.status_code == 403, action
    response = client.post(f"{ALARMS}/{alarm_id}/comments", json={"text": "x"}, headers=viewer)
    assert response.status_code == 403
    assert client.get(ALARMS).status_code == 401


def test_unknown_alarm_is_404(client: TestClient, operator: Headers) -> None:
    unknown = uuid.uuid4()
    assert client.get(f"{ALARMS}/{unknown}", headers=operator).status_code == 404
    assert client.post(f"{ALARMS}/{unknown}/ack", headers=operator).status_code == 404


def test_filters_and_paging(client: TestClient, admin: Headers) -> None:
    pump, fan = Plant(client, admin, "Pump"), Plant(client, admin, "Fan")
    for plant in (pump, fan):
        plant.normal(10)
        plant.hot(HOT)
    pump.normal(30, seed=2)  # the pump's alarm clears
    pump.hot(HOT)  # and a new one opens
    everything = alarms(client, admin)
    assert everything["count"] == 3
    assert alarms(client, admin, device_id=pump.device)["count"] == 2
    assert alarms(client, admin, device_id=fan.device)["count"] == 1
    assert alarms(client, admin, status="CLEARED_UNACK")["count"] == 1
    assert alarms(client, admin, status="ACTIVE_UNACK")["count"] == 2
    severity = everything["data"][0]["severity"]
    by_severity = alarms(client, admin, severity=severity)["data"]
    assert by_severity and {a["severity"] for a in by_severity} == {severity}
    latest = max(a["start_ts"] for a in everything["data"])
    assert [a["start_ts"] for a in alarms(client, admin, since=latest)["data"]] == [latest]
    first, second = (alarms(client, admin, limit=2, offset=o) for o in (0, 2))
    assert (first["count"], len(first["data"]), len(second["data"])) == (3, 2, 1)
    ids = {a["id"] for a in first["data"] + second["data"]}
    assert ids == {a["id"] for a in everything["data"]}
    refused = client.get(ALARMS, params={"status": "OPEN"}, headers=admin)
    assert (refused.status_code, locs(refused)) == (422, [["query", "status"]])
