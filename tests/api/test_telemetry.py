"""Telemetry over HTTP: ingest forms, all-or-nothing rejection, idempotency and reads."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forewarn.runtime import Runtime
from forewarn.security.roles import Role
from tests.api.helpers import (
    limited_client,
    locs,
    messages,
    now_ms,
    points,
    row_counts,
    telemetry_url,
    to_ms,
)
from tests.factories import (
    DAY_MS,
    HOUR_MS,
    JSON,
    MINUTE_MS,
    T0,
    Headers,
    normal_readings,
    register_device,
    seed_user,
)


def readings(n: int) -> list[JSON]:
    """A telemetry body of `n` valid temperature readings one minute apart from T0."""
    return normal_readings(n, start=T0, step_ms=MINUTE_MS).body()


@pytest.fixture
def device(client: TestClient, admin: Headers) -> str:
    """A registered device without telemetry."""
    return register_device(client, admin)


def post(client: TestClient, headers: Headers, device_id: str, body: Any) -> Any:
    """POST a JSON body to the device's telemetry."""
    return client.post(telemetry_url(device_id), json=body, headers=headers)


def post_raw(client: TestClient, headers: Headers, device_id: str, text: str) -> Any:
    """POST JSON text as is (for NaN/Infinity, which json= refuses to send)."""
    return client.post(
        telemetry_url(device_id),
        content=text.encode(),
        headers={**headers, "content-type": "application/json"},
    )


# ---- ingest: accepted forms -------------------------------------------------------------


def test_single_reading_is_stored(client: TestClient, admin: Headers, device: str) -> None:
    response = post(
        client, admin, device, {"ts": T0, "values": {"temperature": 25.1, "humidity": 55}}
    )
    assert response.status_code == 200, response.text
    # No model on the device: nothing is scored.
    assert response.json() == {"device_id": device, "readings": 2, "scored": 0, "anomalies": 0}
    stored = {p["metric_name"]: (to_ms(p["ts"]), p["value"]) for p in points(client, admin, device)}
    assert stored == {"temperature": (T0, 25.1), "humidity": (T0, 55.0)}


def test_a_list_of_readings_is_stored(client: TestClient, admin: Headers, device: str) -> None:
    response = post(client, admin, device, readings(30))
    assert response.status_code == 200, response.text
    assert response.json()["readings"] == 30
    stored = points(client, admin, device)
    assert sorted((to_ms(p["ts"]), p["value"]) for p in stored) == [
        (r["ts"], r["values"]["temperature"]) for r in readings(30)
    ]


def test_missing_ts_means_server_time(client: TestClient, admin: Headers, device: str) -> None:
    before = now_ms()
    response = post(
        client, admin, device, [{"values": {"temperature": 1.0}}, {"values": {"humidity": 2.0}}]
    )
    after = now_ms()
    assert response.status_code == 200, response.text
    stamps = {to_ms(p["ts"]) for p in points(client, admin, device)}
    assert len(stamps) == 1  # one request, one server time
    assert before - 2000 <= stamps.pop() <= after + 2000


def test_timestamp_forms_are_stored_identically(
    client: TestClient, admin: Headers, device: str
) -> None:
    instant = T0 + 123  # 2024-10-27T03:33:20.123Z
    forms = {
        "iso_z": "2024-10-27T03:33:20.123Z",
        "iso_offset": "2024-10-27T05:33:20.123+02:00",
        "iso_negative_offset": "2024-10-26T22:33:20.123-05:00",
        "iso_naive": "2024-10-27T03:33:20.123",
        "epoch_ms": instant,
        "epoch_ms_text": str(instant),
    }
    body = [{"ts": ts, "values": {metric: 1.0}} for metric, ts in forms.items()]
    assert post(client, admin, device, body).status_code == 200
    stored = points(client, admin, device, start=instant, end=instant)
    assert sorted(p["metric_name"] for p in stored) == sorted(forms)
    assert {to_ms(p["ts"]) for p in stored} == {instant}


# ---- ingest: rejected input ---------------------------------------------------------------


def test_unknown_device_is_404_and_nothing_written(
    client: TestClient, admin: Headers, runtime: Runtime
) -> None:
    response = post(client, admin, str(uuid.uuid4()), readings(5))
    assert response.status_code == 404, response.text
    assert "not found" in response.json()["detail"]
    assert row_counts(runtime)["telemetry"] == 0


def _assert_names(response: Any, *path: Any) -> None:
    """Every error of a 422 points at the field, below `body`."""
    found = locs(response)
    assert found, response.text
    for loc in found:
        assert loc[0] == "body" and loc[-len(path) :] == list(path), response.text


def test_non_numeric_value_is_422_naming_the_metric(
    client: TestClient, admin: Headers, device: str, subtests: pytest.Subtests
) -> None:
    for value in ["25.1", True, False, None, {"celsius": 25.1}, [25.1], ""]:
        with subtests.test(value=value):
            response = post(client, admin, device, {"ts": T0, "values": {"temperature": value}})
            _assert_names(response, "values", "temperature")
    assert points(client, admin, device) == []


def test_nan_and_infinity_are_422(
    client: TestClient, admin: Headers, device: str, subtests: pytest.Subtests
) -> None:
    for text in ["NaN", "Infinity", "-Infinity"]:
        with subtests.test(text=text):
            single = post_raw(client, admin, device, f'{{"values": {{"temperature": {text}}}}}')
            _assert_names(single, "values", "temperature")
            batch = f'[{{"values": {{"temperature": 1.5}}}}, {{"values": {{"humidity": {text}}}}}]'
            assert locs(post_raw(client, admin, device, batch)) == [
                ["body", 1, "values", "humidity"]
            ]
    assert points(client, admin, device) == []


BAD_TIMESTAMPS = [
    ("yesterday", "ISO 8601"),
    ("2024-13-45T00:00:00Z", "ISO 8601"),
    ("", ""),
    (1_730_000_000, "seconds"),
    (-1, "seconds"),
    ("-1730000000000", ""),
    (T0 * 1000, "future"),
    (True, ""),
    (False, ""),
    ([T0], ""),
    ({"ms": T0}, ""),
]


def test_bad_timestamp_is_422_naming_ts(
    client: TestClient, admin: Headers, device: str, subtests: pytest.Subtests
) -> None:
    for ts, hint in BAD_TIMESTAMPS:
        with subtests.test(ts=ts):
            response = post(client, admin, device, {"ts": ts, "values": {"temperature": 1.0}})
            _assert_names(response, "ts")
            assert hint in messages(response)
    assert points(client, admin, device) == []


def test_timestamp_more_than_a_day_ahead_is_422(
    client: TestClient, admin: Headers, device: str
) -> None:
    ahead = now_ms() + DAY_MS + HOUR_MS
    response = post(client, admin, device, {"ts": ahead, "values": {"temperature": 1.0}})
    _assert_names(response, "ts")
    assert "future" in messages(response)
    soon = post(client, admin, device, {"ts": now_ms() + HOUR_MS, "values": {"temperature": 1.0}})
    assert soon.status_code == 200, soon.text


def test_missing_or_empty_values_is_422(
    client: TestClient, admin: Headers, device: str, subtests: pytest.Subtests
) -> None:
    for body in [{"values": {}}, {"ts": T0}, {"ts": T0, "values": None}, {"values": [1.0]}]:
        with subtests.test(body=body):
            _assert_names(post(client, admin, device, body), "values")


def test_bad_metric_name_is_422_naming_it(
    client: TestClient, admin: Headers, device: str, subtests: pytest.Subtests
) -> None:
    for metric in ["bad name", "m" * 65, "", "temp/°C", "héat", "a;drop"]:
        with subtests.test(metric=metric):
            response = post(client, admin, device, {"ts": T0, "values": {"ok": 1.0, metric: 1.0}})
            for loc in locs(response):
                assert loc[0] == "body" and "values" in loc and metric in loc, response.text
    assert points(client, admin, device) == []


def test_metric_name_of_64_characters_is_accepted(
    client: TestClient, admin: Headers, device: str
) -> None:
    metric = "M_1.x-" + "m" * 58
    assert post(client, admin, device, {"values": {metric: 1.0}}).status_code == 200
    assert [p["metric_name"] for p in points(client, admin, device)] == [metric]


def test_unknown_fields_are_422(client: TestClient, admin: Headers, device: str) -> None:
    response = post(client, admin, device, {"ts": T0, "values": {"t": 1.0}, "unit": "C"})
    _assert_names(response, "unit")
    batch = post(
        client, admin, device, [*readings(3), {"ts": T0, "values": {"t": 1.0}, "device_id": device}]
    )
    assert locs(batch) == [["body", 3, "device_id"]]
    assert points(client, admin, device) == []


def test_body_that_is_neither_reading_nor_list_is_422(
    client: TestClient, admin: Headers, device: str, subtests: pytest.Subtests
) -> None:
    for body in ["reading", 42, None, [[]]]:
        with subtests.test(body=body):
            response = post(client, admin, device, body)
            assert response.status_code == 422, response.text
            assert all(loc[0] == "body" for loc in locs(response))


def test_one_bad_reading_rejects_the_whole_batch(
    client: TestClient, admin: Headers, device: str
) -> None:
    batch = readings(100)
    batch[57]["values"]["temperature"] = "hot"
    response = post(client, admin, device, batch)
    assert locs(response) == [["body", 57, "values", "temperature"]]
    assert points(client, admin, device) == []

    batch[57]["values"]["temperature"] = 21.0
    batch[12]["ts"] = 1_730_000_000
    batch[88]["values"] = {}
    assert locs(post(client, admin, device, batch)) == [["body", 12, "ts"], ["body", 88, "values"]]
    assert points(client, admin, device) == []


@pytest.fixture
def small_batches(runtime: Runtime, tmp_path: Path) -> Iterator[TestClient]:
    """An app that takes at most 5 readings per request."""
    with limited_client(runtime, tmp_path, max_telemetry_batch=5) as client:
        yield client


def test_batch_over_the_limit_is_422_and_writes_nothing(
    small_batches: TestClient, admin: Headers, device: str, client: TestClient
) -> None:
    too_many = post(small_batches, admin, device, readings(6))
    assert locs(too_many) == [["body"]]
    assert "limit is 5" in messages(too_many)
    assert points(client, admin, device) == []
    assert post(small_batches, admin, device, readings(5)).status_code == 200
    assert len(points(client, admin, device)) == 5


@pytest.fixture
def small_bodies(runtime: Runtime, tmp_path: Path) -> Iterator[TestClient]:
    """An app that takes request bodies of at most 1024 bytes."""
    with limited_client(runtime, tmp_path, max_request_bytes=1024) as client:
        yield client


def test_body_over_max_request_bytes_is_413(
    small_bodies: TestClient, admin: Headers, device: str, client: TestClient
) -> None:
    body = json.dumps(readings(40)).encode()
    assert len(body) > 1024
    headers = {**admin, "content-type": "application/json"}
    declared = small_bodies.post(telemetry_url(device), content=body, headers=headers)
    assert declared.status_code == 413, declared.text
    assert "1024" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must count the stream
        yield from (body[i : i + 200] for i in range(0, len(body), 200))

    streamed = small_bodies.post(telemetry_url(device), content=chunks(), headers=headers)
    assert streamed.status_code == 413, streamed.text
    assert points(client, admin, device) == []
    fits = json.dumps(readings(5)).encode()
    ok = small_bodies.post(telemetry_url(device), content=fits, headers=headers)
    assert ok.status_code == 200, ok.text


@pytest.mark.slow
def test_viewers_cannot_ingest(client: TestClient, runtime: Runtime, device: str) -> None:
    viewer = seed_user(runtime, Role.VIEWER).headers
    assert post(client, viewer, device, readings(3)).status_code == 403
    assert client.post(telemetry_url(device), json=readings(3)).status_code == 401
    operator = seed_user(runtime, Role.OPERATOR).headers
    assert post(client, operator, device, readings(3)).status_code == 200
    assert len(points(client, viewer, device)) == 3


# ---- idempotency ----------------------------------------------------------------------------


@pytest.mark.slow
def test_resending_the_same_ts_and_metric_overwrites(
    client: TestClient, admin: Headers, device: str
) -> None:
    first = readings(20)
    assert post(client, admin, device, first).status_code == 200
    again = [{"ts": r["ts"], "values": {"temperature": 100.0 + i}} for i, r in enumerate(first)]
    assert post(client, admin, device, again).status_code == 200
    assert post(client, admin, device, again).status_code == 200
    stored = points(client, admin, device)
    assert len(stored) == 20
    assert sorted((to_ms(p["ts"]), p["value"]) for p in stored) == [
        (r["ts"], r["values"]["temperature"]) for r in again
    ]


def test_duplicates_inside_one_batch_keep_the_last(
    client: TestClient, admin: Headers, device: str
) -> None:
    body = [
        {"ts": T0, "values": {"temperature": 1.0, "humidity": 50.0}},
        {"ts": T0 + MINUTE_MS, "values": {"temperature": 5.0}},
        {"ts": "2024-10-27T03:33:20Z", "values": {"temperature": 2.0}},  # same instant as T0
        {"ts": T0, "values": {"temperature": 3.0}},
    ]
    assert post(client, admin, device, body).status_code == 200
    stored = {(p["metric_name"], to_ms(p["ts"])): p["value"] for p in points(client, admin, device)}
    assert stored == {
        ("temperature", T0): 3.0,
        ("humidity", T0): 50.0,
        ("temperature", T0 + MINUTE_MS): 5.0,
    }


# ---- reads ---------------------------------------------------------------------------------


@pytest.fixture
def two_metrics(client: TestClient, admin: Headers, device: str) -> list[int]:
    """50 readings of temperature and humidity, one minute apart from T0; returns the ts."""
    body = [
        {"ts": T0 + i * MINUTE_MS, "values": {"temperature": 20.0 + i, "humidity": 50.0 - i}}
        for i in range(50)
    ]
    assert post(client, admin, device, body).status_code == 200
    return [r["ts"] for r in body]


def test_reads_newest_first_with_metric_filter_and_limit(
    client: TestClient, admin: Headers, device: str, two_metrics: list[int]
) -> None:
    everything = points(client, admin, device)
    assert len(everything) == 100
    stamps = [to_ms(p["ts"]) for p in everything]
    assert stamps == sorted(stamps, reverse=True)

    humidity = points(client, admin, device, metric="humidity")
    assert [(to_ms(p["ts"]), p["value"]) for p in humidity] == [
        (T0 + i * MINUTE_MS, 50.0 - i) for i in range(49, -1, -1)
    ]

    newest = points(client, admin, device, metric="temperature", limit=7)
    assert [to_ms(p["ts"]) for p in newest] == two_metrics[:-8:-1]
    response = client.get(telemetry_url(device), params={"limit": 7}, headers=admin)
    assert response.json()["count"] == 7 and len(response.json()["data"]) == 7
    assert points(client, admin, device, metric="pressure") == []


def test_reads_a_time_range_given_as_epoch_ms_or_iso(
    client: TestClient, admin: Headers, device: str, two_metrics: list[int]
) -> None:
    start, end = two_metrics[10], two_metrics[19]
    by_ms = points(client, admin, device, start=start, end=end, metric="temperature")
    assert sorted(to_ms(p["ts"]) for p in by_ms) == two_metrics[10:20]  # both ends included
    iso = {"start": "2024-10-27T03:43:20Z", "end": "2024-10-27T04:52:20+01:00"}
    assert points(client, admin, device, metric="temperature", **iso) == by_ms
    only_start = points(client, admin, device, start=two_metrics[45])
    assert len(only_start) == 10
    only_end = points(client, admin, device, end="2024-10-27T03:34:20")  # naive = UTC
    assert sorted(to_ms(p["ts"]) for p in only_end) == [T0, T0, T0 + MINUTE_MS, T0 + MINUTE_MS]


def test_downsampling_matches_numpy(client: TestClient, admin: Headers, device: str) -> None:
    rng = np.random.default_rng(3)
    ts = np.unique(T0 + rng.integers(0, 12 * HOUR_MS, 600))
    temperature = np.round(rng.normal(25, 3, len(ts)), 3)
    vibration = np.round(rng.gamma(2.0, 0.4, len(ts)), 4)
    body = [
        {"ts": int(t), "values": {"temperature": float(a), "vibration": float(b)}}
        for t, a, b in zip(ts, temperature, vibration, strict=True)
    ]
    assert post(client, admin, device, body).status_code == 200

    response = client.get(telemetry_url(device), params={"interval_s": 3600}, headers=admin)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["interval_s"] == 3600
    got = {(b["metric_name"], to_ms(b["ts"])): b for b in page["data"]}
    bucket = ts // HOUR_MS * HOUR_MS
    expected = {}
    for metric, values in (("temperature", temperature), ("vibration", vibration)):
        for start in np.unique(bucket):
            chosen = values[bucket == start]
            expected[(metric, int(start))] = (
                chosen.mean(),
                chosen.min(),
                chosen.max(),
                len(chosen),
            )
    assert set(got) == set(expected) and page["count"] == len(expected)
    for key, (avg, low, high, count) in expected.items():
        b = got[key]
        assert b["avg"] == pytest.approx(avg, rel=1e-12)
        assert (b["min"], b["max"], b["count"]) == (low, high, count)
    starts = [to_ms(b["ts"]) for b in page["data"]]
    assert starts == sorted(starts, reverse=True)

    window = client.get(
        telemetry_url(device),
        headers=admin,
        params={
            "interval_s": 1800,
            "metric": "vibration",
            "start": T0 + HOUR_MS,
            "end": T0 + 3 * HOUR_MS - 1,
        },
    ).json()["data"]
    inside = (ts >= T0 + HOUR_MS) & (ts <= T0 + 3 * HOUR_MS - 1)
    assert sum(b["count"] for b in window) == inside.sum()
    assert {b["metric_name"] for b in window} == {"vibration"}
    assert sum(b["avg"] * b["count"] for b in window) == pytest.approx(vibration[inside].sum())


BAD_READS = [
    ({"start": T0 + 1, "end": T0}, "start"),
    ({"start": "2024-10-28T00:00:00Z", "end": "2024-10-27T00:00:00Z"}, "start"),
    ({"start": "soon"}, "start"),
    ({"end": 1_730_000_000}, "end"),
    ({"limit": 0}, "limit"),
    ({"limit": 100_001}, "limit"),
    ({"interval_s": 0}, "interval_s"),
    ({"metric": "bad name"}, "metric"),
]


def test_bad_read_parameters_are_422(
    client: TestClient, admin: Headers, device: str, subtests: pytest.Subtests
) -> None:
    for params, field in BAD_READS:
        with subtests.test(params=params):
            response = client.get(telemetry_url(device), params=params, headers=admin)
            assert locs(response) == [["query", field]]


def test_reading_an_unknown_device_is_404(client: TestClient, admin: Headers) -> None:
    response = client.get(telemetry_url(str(uuid.uuid4())), headers=admin)
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]
