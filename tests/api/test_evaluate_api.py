"""Backtesting over HTTP: inline labelled series or stored telemetry, scored as NAB does."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forewarn.detection.registry import DEFAULT_ALGORITHM
from forewarn.evaluation.nab import PROFILES
from forewarn.schemas.evaluation import MAX_EVALUATE_ROWS, EvaluateRequest, EvaluateResponse
from tests.api.helpers import API, locs, messages
from tests.factories import T0, Headers, Readings, register_device, send_readings

EVALUATE = f"{API}/ml/evaluate"
STEP = 300_000
SPIKES = (300, 420)
JSON = dict[str, Any]


def spiky(n: int = 500, seed: int = 1) -> tuple[Readings, list[list[int]]]:
    """Noise with a spike and a dip inside each window; the series and its windows."""
    values = np.round(np.random.default_rng(seed).normal(20.0, 0.5, n), 3)
    spikes = [k for k in SPIKES if k + 5 < n]
    for k in spikes:
        values[k] += 10.0
        values[k + 2] -= 10.0
    ts = T0 + STEP * np.arange(n, dtype=np.int64)
    return Readings(ts, values), [[int(ts[k - 5]), int(ts[k + 5])] for k in spikes]


def inline(name: str = "plant/pump.csv", n: int = 500, seed: int = 1) -> JSON:
    """One inline series of the request."""
    series, windows = spiky(n, seed)
    return {
        "name": name,
        "timestamps": series.ts.tolist(),
        "values": series.values.tolist(),
        "windows": windows,
    }


def evaluate(client: TestClient, headers: Headers, **body: Any) -> Any:
    """POST /ml/evaluate."""
    return client.post(EVALUATE, json=body, headers=headers)


def assert_every_figure(result: JSON) -> None:
    """All three profiles at optimal (with threshold) and shipped, events, speed."""
    assert set(result["nab"]) == {p.name for p in PROFILES}
    for profile in result["nab"].values():
        assert 0 < profile["optimal"]["score"] <= 100
        assert profile["optimal"]["threshold"] is not None
        assert profile["shipped"]["score"] <= 100
    shipped = result["events"]["shipped"]
    assert shipped["windows"] == 2 * len(result["series"]) == shipped["detected"]
    assert set(shipped) >= {"precision", "recall", "f1", "median_delay_rows", "median_delay_ms"}
    assert result["rows_per_second"] > 0
    EvaluateResponse.model_validate(result)


def test_inline_series_are_scored(client: TestClient, operator: Headers) -> None:
    series = [inline(), inline("yard/fan.csv", 450, seed=2)]
    response = evaluate(client, operator, series=series, params={"range_tolerance": 0.05})
    assert response.status_code == 200, response.text
    result = response.json()
    assert_every_figure(result)
    assert result["algorithm"] == DEFAULT_ALGORITHM and result["params"] == {
        "range_tolerance": 0.05
    }
    assert result["rows"] == 950 and result["scored_rows"] == 950 - 75 - 67
    assert [(s["name"], s["category"], s["probation"]) for s in result["series"]] == [
        ("plant/pump.csv", "plant", 75),
        ("yard/fan.csv", "yard", 67),
    ]
    assert [w["start_row"] for w in result["series"][0]["windows"]] == [k - 5 for k in SPIKES]


def test_viewer_is_refused(client: TestClient, viewer: Headers) -> None:
    response = evaluate(client, viewer, series=[inline()])
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"algorithm": "no-such-detector"}, "algorithm"),
        ({"params": {"no_such_param": 1}}, "params"),
        ({"series": [{**inline(), "values": inline()["values"][:-1]}]}, "series"),
        ({"series": [inline(n=49)]}, "timestamps"),
        ({"series": [{**inline(), "windows": [[T0 + STEP, T0]]}]}, "windows"),
        ({"series": [inline(), inline()]}, "series"),
        ({"series": []}, "series"),
        ({"series": [inline()], "device_id": str(uuid.uuid4())}, "body"),
    ],
    ids=[
        "algorithm",
        "params",
        "lengths",
        "too-few",
        "window-order",
        "duplicate-names",
        "empty",
        "both-forms",
    ],
)
def test_bad_requests_name_the_field(
    client: TestClient, operator: Headers, change: JSON, field: str
) -> None:
    response = evaluate(client, operator, **{"series": [inline()], **change})
    assert response.status_code == 422, response.text
    assert any(field in loc for loc in locs(response)), locs(response)


def test_unknown_algorithm_lists_the_valid_ones(client: TestClient, operator: Headers) -> None:
    response = evaluate(client, operator, algorithm="nope", series=[inline()])
    assert locs(response) == [["body", "algorithm"]]
    assert DEFAULT_ALGORITHM in messages(response)


@pytest.mark.slow
def test_row_limit(client: TestClient, operator: Headers) -> None:
    rows = MAX_EVALUATE_ROWS // 2 + 1
    big = {"name": "big.csv", "timestamps": [T0] * rows, "values": [1.0] * rows, "windows": []}
    response = evaluate(client, operator, series=[big, {**big, "name": "big2.csv"}])
    assert locs(response) == [["body", "series"]]
    assert f"{MAX_EVALUATE_ROWS:,}" in messages(response)


def test_no_scorable_window_is_a_422(client: TestClient, operator: Headers) -> None:
    response = evaluate(client, operator, series=[{**inline(), "windows": []}])
    assert locs(response) == [["body", "series"]]


@pytest.fixture
def stored(client: TestClient, admin: Headers, operator: Headers) -> tuple[str, list[list[int]]]:
    """A device with a spiky temperature series ingested; its id and the windows."""
    device = register_device(client, admin)
    series, windows = spiky()
    send_readings(client, operator, device, series)
    return device, windows


def stored_body(device: str, windows: list[list[int]], **change: Any) -> JSON:
    """The stored-telemetry form of the request over the whole series."""
    body = {"device_id": device, "metric_name": "temperature", "windows": windows}
    return {**body, "start": T0, "end": T0 + 500 * STEP, **change}


def test_stored_telemetry_is_scored(
    client: TestClient, operator: Headers, stored: tuple[str, list[list[int]]]
) -> None:
    device, windows = stored
    response = evaluate(client, operator, **stored_body(device, windows))
    assert response.status_code == 200, response.text
    result = response.json()
    assert_every_figure(result)
    assert result["rows"] == 500
    assert result["series"][0]["name"] == f"{device}/temperature"


def test_stored_telemetry_errors(
    client: TestClient, operator: Headers, stored: tuple[str, list[list[int]]]
) -> None:
    device, windows = stored
    unknown = evaluate(client, operator, **stored_body(str(uuid.uuid4()), windows))
    assert unknown.status_code == 404
    short = evaluate(client, operator, **stored_body(device, windows, end=T0 + 40 * STEP))
    assert locs(short) == [["body", "start"]]
    assert "41 readings" in messages(short)
    missing = evaluate(client, operator, device_id=device, metric_name="temperature")
    assert response_field(missing) == "body"


def response_field(response: Any) -> str:
    """The first location element of a 422."""
    return str(locs(response)[0][0])


def test_examples_are_valid() -> None:
    request_examples = EvaluateRequest.model_json_schema()["examples"]
    assert len(request_examples) == 2
    for example in request_examples:
        EvaluateRequest.model_validate(example)
    for example in EvaluateResponse.model_json_schema()["examples"]:
        EvaluateResponse.model_validate(example)
