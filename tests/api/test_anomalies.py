"""Stored anomalies over HTTP: filters, time ranges, score floor and pagination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forewarn.runtime import Runtime
from forewarn.security.roles import Role
from tests.api.helpers import ANOMALIES, PREDICT, anomalies, locs, messages, to_ms
from tests.factories import (
    HOUR_MS,
    T0,
    Headers,
    normal_readings,
    register_device,
    seed_user,
    trained_model,
)


@dataclass(frozen=True)
class Stored:
    """An anomaly the test created: series, reading time and score."""

    device_id: str
    metric_name: str
    ts: int
    score: float


def iso(ms: int) -> str:
    """ISO 8601 with a +02:00 offset, to prove the API converts it."""
    plus_two = timezone(timedelta(hours=2))
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .astimezone(plus_two)
        .isoformat(timespec="milliseconds")
    )


@pytest.fixture
def stored(client: TestClient, admin: Headers) -> list[Stored]:
    """Anomalies of three series on two devices, one reading hour apart each."""
    pump = register_device(client, admin, name="Pump")
    fan = register_device(client, admin, name="Fan")
    plan = [(pump, "temperature", 6, 0), (pump, "humidity", 3, 1), (fan, "temperature", 4, 2)]
    created: list[Stored] = []
    hour = 0
    for device, metric, count, seed in plan:
        trained_model(client, admin, device, normal_readings(200, seed=seed), metric=metric)
        # Values at growing distances from normal give a spread of scores.
        values = [25.0 + 2.5 * (k + 1) * (-1) ** k for k in range(count)]
        stamps = [T0 + (hour + k) * HOUR_MS for k in range(count)]
        hour += count
        response = client.post(
            f"{PREDICT}/batch",
            headers=admin,
            json={
                "series": [
                    {
                        "device_id": device,
                        "metric_name": metric,
                        "values": values,
                        "timestamps": stamps,
                    }
                ]
            },
        )
        assert response.status_code == 200, response.text
        (answer,) = response.json()["series"]
        created += [
            Stored(device, metric, ts, score)
            for ts, score, flagged in zip(
                stamps, answer["anomaly_scores"], answer["is_anomaly"], strict=True
            )
            if flagged
        ]
    assert len({(s.device_id, s.metric_name) for s in created}) == 3
    return sorted(created, key=lambda s: s.ts, reverse=True)


def key(item: dict[str, Any]) -> tuple[str, str, int]:
    """Identity of an anomaly as the API returns it."""
    return item["device_id"], item["metric_name"], to_ms(item["ts"])


def keys(items: list[Stored]) -> list[tuple[str, str, int]]:
    """Identities of created anomalies, in the API's order (newest reading first)."""
    return [(s.device_id, s.metric_name, s.ts) for s in items]


def test_lists_all_anomalies_newest_reading_first(
    client: TestClient, admin: Headers, stored: list[Stored]
) -> None:
    page = anomalies(client, admin)
    assert page["count"] == len(stored) and page["limit"] == 100 and page["offset"] == 0
    assert [key(a) for a in page["data"]] == keys(stored)
    assert [a["anomaly_score"] for a in page["data"]] == [s.score for s in stored]


def test_filters_by_device_and_metric(
    client: TestClient, admin: Headers, stored: list[Stored]
) -> None:
    pump = stored[-1].device_id  # the oldest anomaly is the pump's temperature
    cases = [
        ({"device_id": pump}, lambda s: s.device_id == pump),
        ({"metric_name": "temperature"}, lambda s: s.metric_name == "temperature"),
        (
            {"device_id": pump, "metric_name": "humidity"},
            lambda s: s.device_id == pump and s.metric_name == "humidity",
        ),
        ({"metric_name": "pressure"}, lambda s: False),
    ]
    for params, wanted in cases:
        page = anomalies(client, admin, **params)
        expected = keys([s for s in stored if wanted(s)])
        assert [key(a) for a in page["data"]] == expected, params
        assert page["count"] == len(expected), params


def test_filters_by_reading_time_in_epoch_ms_or_iso(
    client: TestClient, admin: Headers, stored: list[Stored]
) -> None:
    since, until = T0 + 2 * HOUR_MS, T0 + 7 * HOUR_MS
    inside = keys([s for s in stored if since <= s.ts <= until])  # both ends included
    assert inside
    for params in (
        {"since": since, "until": until},
        {"since": iso(since), "until": iso(until)},
        {"since": "2024-10-27T05:33:20Z", "until": "2024-10-27T10:33:20"},
    ):
        page = anomalies(client, admin, **params)
        assert [key(a) for a in page["data"]] == inside, params
        assert page["count"] == len(inside)
    assert [key(a) for a in anomalies(client, admin, since=since)["data"]] == keys(
        [s for s in stored if s.ts >= since]
    )
    assert [key(a) for a in anomalies(client, admin, until=until)["data"]] == keys(
        [s for s in stored if s.ts <= until]
    )
    assert anomalies(client, admin, since=T0, until=T0)["count"] == int(
        any(s.ts == T0 for s in stored)
    )


@pytest.mark.slow
def test_filters_by_minimum_score(client: TestClient, admin: Headers, stored: list[Stored]) -> None:
    scores = sorted({s.score for s in stored})
    assert len(scores) >= 2, "the fixture should produce different scores"
    floor = scores[len(scores) // 2]
    page = anomalies(client, admin, min_score=floor)
    expected = keys([s for s in stored if s.score >= floor])
    assert [key(a) for a in page["data"]] == expected and page["count"] == len(expected)
    assert 0 < len(expected) < len(stored)
    assert anomalies(client, admin, min_score=1)["count"] == sum(s.score >= 1 for s in stored)
    assert anomalies(client, admin, min_score=0)["count"] == len(stored)
    combined = anomalies(
        client, admin, min_score=floor, metric_name="temperature", since=T0 + 3 * HOUR_MS
    )
    assert [key(a) for a in combined["data"]] == keys(
        [
            s
            for s in stored
            if s.score >= floor and s.metric_name == "temperature" and s.ts >= T0 + 3 * HOUR_MS
        ]
    )


def test_pages_report_the_total_not_the_page_size(
    client: TestClient, admin: Headers, stored: list[Stored]
) -> None:
    total = len(stored)
    seen = []
    for offset in range(0, total + 4, 4):
        page = anomalies(client, admin, limit=4, offset=offset)
        assert page["count"] == total and page["limit"] == 4 and page["offset"] == offset
        assert len(page["data"]) == min(4, max(0, total - offset))
        seen += [key(a) for a in page["data"]]
    assert seen == keys(stored)  # no gaps, no repeats
    filtered = anomalies(client, admin, metric_name="temperature", limit=2, offset=1)
    temperature = keys([s for s in stored if s.metric_name == "temperature"])
    assert [key(a) for a in filtered["data"]] == temperature[1:3]
    assert filtered["count"] == len(temperature)


BAD_QUERIES = [
    ({"since": T0 + 1, "until": T0}, "since"),
    ({"since": "2024-10-28T00:00:00Z", "until": "2024-10-27T23:59:59Z"}, "since"),
    ({"since": "tomorrow"}, "since"),
    ({"until": 1_730_000_000}, "until"),
    ({"limit": 0}, "limit"),
    ({"limit": 1001}, "limit"),
    ({"offset": -1}, "offset"),
    ({"min_score": -0.1}, "min_score"),
    ({"min_score": 1.5}, "min_score"),
    ({"min_score": "high"}, "min_score"),
    ({"device_id": "pump-7"}, "device_id"),
    ({"metric_name": "bad name"}, "metric_name"),
]


def test_bad_query_parameters_are_422(
    client: TestClient, admin: Headers, subtests: pytest.Subtests
) -> None:
    for params, field in BAD_QUERIES:
        with subtests.test(params=params):
            response = client.get(ANOMALIES, params=params, headers=admin)
            assert locs(response) == [["query", field]]
            if field == "since" and "until" in params:
                assert "since must not be after until" in messages(response)


def test_limits_at_the_edges_are_accepted_and_viewers_read(
    client: TestClient, runtime: Runtime
) -> None:
    viewer = seed_user(runtime, Role.VIEWER).headers
    for limit in (1, 1000):
        page = anomalies(client, viewer, limit=limit)
        assert page == {"data": [], "count": 0, "limit": limit, "offset": 0}
    assert client.get(ANOMALIES).status_code == 401
