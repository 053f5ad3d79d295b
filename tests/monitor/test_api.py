"""GET /api/v1/ml/health (everyone) and POST /api/v1/ml/health/scan (operators)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from forewarn.db.types import utcnow
from forewarn.monitor.lock import scan_lock
from forewarn.runtime import Runtime
from tests.factories import NOW, make_device, model_row
from tests.monitor.fakes import FakeClock
from tests.monitor.helpers import make_monitor, set_used

HEALTH = "/api/v1/ml/health"
Headers = dict[str, str]


def test_before_any_scan_the_report_is_empty(client: TestClient, viewer: Headers) -> None:
    response = client.get(HEALTH, headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["scan"], body["data"], body["count"]) == (None, [], 0)
    assert [(c["check"], c["open"]) for c in body["checks"]] == [
        ("stale", 0),
        ("inactive", 0),
        ("cleanup", 0),
        ("storage", 0),
    ]


def test_an_operator_scans_and_a_viewer_reads_the_findings(
    client: TestClient, runtime: Runtime, operator: Headers, viewer: Headers
) -> None:
    now = utcnow()  # the endpoint scans as of the wall clock
    device = make_device(runtime)
    dead = model_row(runtime, device, "a", trained=now - timedelta(days=10))  # stale, inactive
    model_row(runtime, device, "b", trained=now - timedelta(hours=1), used=now)  # healthy

    refused = client.post(f"{HEALTH}/scan", headers=viewer)
    assert refused.status_code == 403
    scanned = client.post(f"{HEALTH}/scan", headers=operator)
    assert scanned.status_code == 200, scanned.text
    report = scanned.json()
    assert (report["scan"]["models_total"], report["scan"]["opened"]) == (2, 2)
    by_check = {c["check"]: c["open"] for c in report["checks"]}
    assert by_check == {"stale": 1, "inactive": 1, "cleanup": 0, "storage": 0}
    assert report["count"] == 2

    read = client.get(HEALTH, params={"check": "stale"}, headers=viewer).json()
    assert read["count"] == 1
    (finding,) = read["data"]
    assert (finding["subject"], finding["status"], finding["occurrences"]) == (str(dead), "open", 1)
    assert finding["labels"] == ["ml", "ml-retraining", "predictive-maintenance"]
    assert finding["escalations"] == [
        {**finding["escalations"][0], "channel": "log", "state": "open", "attempts": 0}
    ]
    assert read["scan"] == report["scan"]


@pytest.mark.slow
def test_resolved_findings_are_listed_on_request(
    client: TestClient, runtime: Runtime, viewer: Headers, clock: FakeClock
) -> None:
    model = model_row(runtime, make_device(runtime), trained=NOW - timedelta(hours=48))
    monitor = make_monitor(runtime, clock)
    monitor.scan(NOW)
    set_used(runtime, model, NOW)
    monitor.scan(NOW + timedelta(hours=1))

    assert client.get(HEALTH, headers=viewer).json()["count"] == 0
    resolved = client.get(HEALTH, params={"status": "resolved"}, headers=viewer).json()
    assert [f["check"] for f in resolved["data"]] == ["inactive"]
    assert resolved["data"][0]["resolved_at"] is not None
    everything = client.get(HEALTH, params={"status": "all"}, headers=viewer).json()
    assert everything["count"] == 1


def test_bad_filters_are_refused_naming_the_field(client: TestClient, viewer: Headers) -> None:
    for params, loc in (
        ({"check": "bogus"}, ["query", "check"]),
        ({"status": "closed"}, ["query", "status"]),
        ({"limit": 0}, ["query", "limit"]),
    ):
        response = client.get(HEALTH, params=params, headers=viewer)
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["detail"]] == [loc]
    unknown = client.get(HEALTH, params={"check": "bogus"}, headers=viewer).json()
    assert "one of: stale, inactive, cleanup, storage" in unknown["detail"][0]["msg"]


def test_a_scan_already_running_is_a_conflict(
    client: TestClient, runtime: Runtime, operator: Headers
) -> None:
    with scan_lock(runtime.engine):
        response = client.post(f"{HEALTH}/scan", headers=operator)
    assert response.status_code == 409
    assert "already running" in response.json()["detail"]


def test_reading_needs_a_token(client: TestClient) -> None:
    assert client.get(HEALTH).status_code == 401
