"""GET /api/v1/ingest/dead-letters: filters, paging, roles and refused parameters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from forewarn.runtime import Runtime
from forewarn.telemetry.dead_letters import DeadLetterRecord, insert_dead_letters
from tests.api.helpers import API, locs, messages
from tests.factories import Headers

URL = f"{API}/ingest/dead-letters"
T = 1_764_000_000_000  # received times of the seeded letters: T, T + 1 s, ...


@pytest.fixture
def seeded(runtime: Runtime) -> list[DeadLetterRecord]:
    """Five dead letters of three kinds, one second apart."""
    kinds = ["bad_json", "bad_value", "bad_json", "unknown_device", "bad_json"]
    records = [
        DeadLetterRecord(
            kind, f"forewarn/v1/devices/d{i}/telemetry", b"{oops", f"r{i}", T + i * 1000
        )
        for i, kind in enumerate(kinds)
    ]
    with runtime.sessions() as session:
        insert_dead_letters(session, records)
        session.commit()
    return records


def test_a_viewer_pages_through_dead_letters_newest_first(
    client: TestClient, viewer: Headers, seeded: list[DeadLetterRecord]
) -> None:
    response = client.get(URL, params={"limit": 2}, headers=viewer)
    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["count"], page["limit"], page["offset"]) == (5, 2, 0)
    assert [x["reason"] for x in page["data"]] == ["r4", "r3"]
    first = page["data"][0]
    assert first["topic"] == "forewarn/v1/devices/d4/telemetry"
    assert first["payload_excerpt"] == "{oops" and first["kind"] == "bad_json"
    assert datetime.fromisoformat(first["received_at"]) == datetime.fromtimestamp(
        (T + 4000) / 1000, UTC
    )
    rest = client.get(URL, params={"limit": 2, "offset": 4}, headers=viewer).json()
    assert [x["reason"] for x in rest["data"]] == ["r0"]


def test_filters_by_kind_and_since(
    client: TestClient, viewer: Headers, seeded: list[DeadLetterRecord]
) -> None:
    by_kind = client.get(URL, params={"kind": "bad_json"}, headers=viewer).json()
    assert (by_kind["count"], [x["reason"] for x in by_kind["data"]]) == (3, ["r4", "r2", "r0"])
    iso = datetime.fromtimestamp((T + 2000) / 1000, UTC).isoformat()
    for since in (T + 2000, iso):
        recent = client.get(URL, params={"since": since, "kind": "bad_json"}, headers=viewer)
        assert [x["reason"] for x in recent.json()["data"]] == ["r4", "r2"]


def test_bad_parameters_are_refused_naming_the_field(client: TestClient, viewer: Headers) -> None:
    bad_kind = client.get(URL, params={"kind": "nonsense"}, headers=viewer)
    assert locs(bad_kind) == [["query", "kind"]]
    assert "unknown_device" in messages(bad_kind)
    assert locs(client.get(URL, params={"since": "soon"}, headers=viewer)) == [["query", "since"]]
    assert locs(client.get(URL, params={"limit": 0}, headers=viewer)) == [["query", "limit"]]
    assert locs(client.get(URL, params={"offset": -1}, headers=viewer)) == [["query", "offset"]]


def test_dead_letters_need_a_login(client: TestClient) -> None:
    assert client.get(URL).status_code == 401
