"""Scoring over HTTP: one value, batches in two forms, stored anomalies and usage counters.

Most tests here train the point-wise Isolation Forest (FOREST): it judges each reading alone,
so a verdict does not depend on the readings before it and "a batch answers like single
predicts" can be compared exactly. The stateful default is covered in test_stateful_scoring.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forewarn.runtime import Runtime
from forewarn.security.roles import Role
from forewarn.telemetry.store import OVERLAP_MIN_ROWS
from tests.api.helpers import (
    MODELS,
    PREDICT,
    anomalies,
    get_model,
    limited_client,
    locs,
    messages,
    now_ms,
    predict,
    row_counts,
    to_ms,
)
from tests.factories import (
    FOREST,
    HOUR_MS,
    T0,
    Headers,
    normal_readings,
    register_device,
    seed_user,
    trained_model,
)

BATCH = f"{PREDICT}/batch"
NORMAL, HOT, COLD = 25.1, 45.0, -10.0


@pytest.fixture
def device(client: TestClient, admin: Headers) -> str:
    """A registered device without telemetry."""
    return register_device(client, admin)


@pytest.fixture
def model(client: TestClient, admin: Headers, device: str) -> dict[str, Any]:
    """The active point-wise forest of `device`'s temperature (readings around 25 degrees)."""
    return trained_model(client, admin, device, normal_readings(200), **FOREST)


def batch(client: TestClient, headers: Headers, **body: Any) -> Any:
    """POST /ml/predict/batch."""
    return client.post(BATCH, json=body, headers=headers)


def item(device_id: str, value: Any, metric: str = "temperature", **extra: Any) -> dict[str, Any]:
    """One element of the `items` form."""
    return {"device_id": device_id, "metric_name": metric, "value": value, **extra}


def hours_after_t0(n: int, first: int = 1) -> list[int]:
    """`n` reading times an hour apart, after the training data (which ends at T0)."""
    return [T0 + (first + i) * HOUR_MS for i in range(n)]


# ---- one value -----------------------------------------------------------------------------


def test_predict_returns_the_verdict(
    client: TestClient, admin: Headers, device: str, model: dict[str, Any]
) -> None:
    hot = predict(client, admin, device, HOT)
    assert hot.status_code == 200, hot.text
    verdict = hot.json()
    assert set(verdict) == {
        "is_anomaly",
        "anomaly_score",
        "threshold",
        "model_id",
        "model_version",
        "warming_up",
        "explanation",
        "anomalous",
        "event_id",
    }
    assert verdict["is_anomaly"] is True and verdict["warming_up"] is False
    assert verdict["anomalous"] is True and verdict["event_id"] is not None
    assert "temperature 45 is" in verdict["explanation"]["summary"]
    assert model["threshold"] == verdict["threshold"] < verdict["anomaly_score"] <= 1
    assert verdict["model_id"] == model["id"] and verdict["model_version"] == 1

    normal = predict(client, admin, device, NORMAL).json()
    assert normal["is_anomaly"] is False and normal["explanation"] is None
    assert 0 <= normal["anomaly_score"] <= normal["threshold"]
    again = predict(client, admin, device, 45).json()  # an integer is a number
    assert again["anomaly_score"] == verdict["anomaly_score"]  # the score is never lowered
    # ... but right after the first, the same excursion goes on: in alarm, not a new event
    assert (again["anomalous"], again["is_anomaly"]) == (True, False)
    assert again["event_id"] == verdict["event_id"]


@pytest.mark.slow
def test_no_active_model_is_404(
    client: TestClient, admin: Headers, device: str, runtime: Runtime
) -> None:
    never = predict(client, admin, device, NORMAL)
    assert never.status_code == 404, never.text
    assert "active model" in never.json()["detail"]
    assert predict(client, admin, str(uuid.uuid4()), NORMAL).status_code == 404

    model = trained_model(client, admin, device, normal_readings(400))  # the default algorithm
    assert predict(client, admin, device, NORMAL, metric="humidity").status_code == 404
    assert predict(client, admin, device, HOT).json()["is_anomaly"] is True
    assert client.delete(f"{MODELS}/{model['id']}", headers=admin).status_code == 200
    assert predict(client, admin, device, HOT).status_code == 404
    assert row_counts(runtime)["anomalies"] == 1  # only the prediction made before the delete


def test_anomalies_are_stored_with_their_reading(
    client: TestClient, admin: Headers, device: str, model: dict[str, Any]
) -> None:
    before = datetime.now().astimezone()
    at = "2024-10-27T05:33:20.250+02:00"
    verdict = predict(client, admin, device, HOT, timestamp=at).json()
    assert predict(client, admin, device, NORMAL, timestamp=T0).json()["is_anomaly"] is False
    page = anomalies(client, admin)
    assert page["count"] == 1
    (stored,) = page["data"]
    assert stored["model_id"] == model["id"] and stored["device_id"] == device
    assert stored["metric_name"] == "temperature" and stored["value"] == HOT
    assert stored["anomaly_score"] == verdict["anomaly_score"]
    assert stored["threshold"] == verdict["threshold"]
    assert to_ms(stored["ts"]) == T0 + 250
    detected = datetime.fromisoformat(stored["detected_at"])
    assert before <= detected <= datetime.now().astimezone()
    uuid.UUID(stored["id"])


def test_without_timestamp_the_reading_time_is_now(
    client: TestClient, admin: Headers, device: str, model: dict[str, Any]
) -> None:
    start = now_ms()
    assert predict(client, admin, device, COLD).json()["is_anomaly"] is True
    (stored,) = anomalies(client, admin)["data"]
    assert start - 2000 <= to_ms(stored["ts"]) <= now_ms() + 2000


@pytest.mark.slow
def test_every_prediction_updates_usage(
    client: TestClient, admin: Headers, device: str, model: dict[str, Any]
) -> None:
    assert get_model(client, admin, model["id"])["last_used_at"] is None
    before = datetime.now().astimezone()
    seen = []
    for n, value in enumerate([NORMAL, HOT, NORMAL], start=1):
        assert predict(client, admin, device, value).status_code == 200
        used = get_model(client, admin, model["id"])
        assert used["prediction_count"] == n
        seen.append(datetime.fromisoformat(used["last_used_at"]))
    assert before <= seen[0] <= seen[1] <= seen[2] <= datetime.now().astimezone()
    assert get_model(client, admin, model["id"])["anomaly_count"] == 1
    assert (
        batch(
            client,
            admin,
            series=[
                {
                    "device_id": device,
                    "metric_name": "temperature",
                    "values": [NORMAL, HOT, HOT],
                    "timestamps": hours_after_t0(3),
                }
            ],
        ).status_code
        == 200
    )
    after = get_model(client, admin, model["id"])
    # The second HOT in a row continues the excursion the first opened: one more event.
    assert after["prediction_count"] == 6 and after["anomaly_count"] == 2
    assert datetime.fromisoformat(after["last_used_at"]) >= seen[2]


def test_bad_value_is_422(client: TestClient, admin: Headers, subtests: pytest.Subtests) -> None:
    for value in ["45.0", "", True, {"v": 45.0}, [45.0]]:
        with subtests.test(value=value):
            response = predict(client, admin, str(uuid.uuid4()), value)
            assert locs(response) == [["body", "value"]]
    # null is no reading at all: one of `value` or `values` is needed.
    response = predict(client, admin, str(uuid.uuid4()), None)
    assert locs(response) == [["body"]] and "exactly one of `value`" in messages(response)


def test_nan_and_infinity_are_422(
    client: TestClient, admin: Headers, subtests: pytest.Subtests
) -> None:
    headers = {**admin, "content-type": "application/json"}
    for text in ["NaN", "Infinity", "-Infinity"]:
        with subtests.test(text=text):
            body = f'{{"device_id": "{uuid.uuid4()}", "metric_name": "t", "value": {text}}}'
            response = client.post(PREDICT, content=body.encode(), headers=headers)
            assert locs(response) == [["body", "value"]]


BAD_FIELDS = [
    ({"metric_name": "temperature", "value": 1.0}, "device_id"),
    ({"device_id": "pump-7", "metric_name": "temperature", "value": 1.0}, "device_id"),
    ({"device_id": "DEVICE", "value": 1.0}, "metric_name"),
    ({"device_id": "DEVICE", "metric_name": "temp erature", "value": 1.0}, "metric_name"),
    ({"device_id": "DEVICE", "metric_name": "temperature"}, None),
    (
        {"device_id": "DEVICE", "metric_name": "t", "value": 1.0, "timestamp": 1_730_000_000},
        "timestamp",
    ),
    ({"device_id": "DEVICE", "metric_name": "t", "value": 1.0, "timestamp": "noon"}, "timestamp"),
    ({"device_id": "DEVICE", "metric_name": "t", "value": 1.0, "threshold": 0.9}, "threshold"),
]


def test_bad_fields_are_422_naming_them(
    client: TestClient, admin: Headers, device: str, subtests: pytest.Subtests
) -> None:
    for template, field in BAD_FIELDS:
        body = {k: device if v == "DEVICE" else v for k, v in template.items()}
        with subtests.test(body=body):
            response = client.post(PREDICT, json=body, headers=admin)
            if field is None:  # neither `value` nor `values`: the body as a whole
                assert locs(response) == [["body"]] and "`value`" in messages(response)
            else:  # metric_name may be a name, "*" or a list: an error per form, all here
                assert locs(response) and all(loc[:2] == ["body", field] for loc in locs(response))


def test_viewers_cannot_predict(
    client: TestClient, runtime: Runtime, device: str, model: dict[str, Any]
) -> None:
    viewer = seed_user(runtime, Role.VIEWER).headers
    assert predict(client, viewer, device, NORMAL).status_code == 403
    assert batch(client, viewer, items=[item(device, NORMAL)]).status_code == 403
    operator = seed_user(runtime, Role.OPERATOR).headers
    assert predict(client, operator, device, NORMAL).status_code == 200


# ---- batches ------------------------------------------------------------------------------


@pytest.fixture
def three_series(
    client: TestClient, admin: Headers, device: str, model: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """(device, metric, model id) of three trained series on two devices."""
    other = register_device(client, admin, name="Other")
    humidity = trained_model(
        client, admin, device, normal_readings(200, seed=1), metric="humidity", **FOREST
    )
    remote = trained_model(client, admin, other, normal_readings(200, seed=2), **FOREST)
    return [
        (device, "temperature", model["id"]),
        (device, "humidity", humidity["id"]),
        (other, "temperature", remote["id"]),
    ]


VALUES = [[NORMAL, HOT, 24.7, COLD], [25.0, 60.0], [NORMAL, 25.3, 99.5]]


@pytest.mark.slow
def test_items_form_answers_in_request_order_like_single_predicts(
    client: TestClient, admin: Headers, three_series: list[tuple[str, str, str]]
) -> None:
    # Interleave the series so that grouping by series cannot keep the order by accident.
    order = [
        (s, v)
        for i in range(4)
        for s, values in enumerate(VALUES)
        for j, v in enumerate(values)
        if j == i
    ]
    # Readings of one series need distinct times (they are stored and scored in time order).
    stamps = hours_after_t0(len(order))
    items = [
        item(three_series[s][0], v, three_series[s][1], timestamp=ts)
        for (s, v), ts in zip(order, stamps, strict=True)
    ]
    response = batch(client, admin, items=items)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["series"] is None and body["count"] == len(items)
    results = body["results"]
    singles = [
        predict(
            client, admin, i["device_id"], i["value"], i["metric_name"], timestamp=i["timestamp"]
        ).json()
        for i in items
    ]
    assert results == singles
    assert [r["model_id"] for r in results] == [three_series[s][2] for s, _ in order]
    assert body["anomaly_count"] == sum(r["is_anomaly"] for r in results) >= 4


@pytest.mark.slow
def test_series_form_scores_equal_the_items_form(
    client: TestClient, admin: Headers, three_series: list[tuple[str, str, str]]
) -> None:
    series = [
        {"device_id": d, "metric_name": m, "values": v, "timestamps": hours_after_t0(len(v))}
        for (d, m, _), v in zip(three_series, VALUES, strict=True)
    ]
    response = batch(client, admin, series=series)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["results"] is None and body["count"] == sum(map(len, VALUES))
    items = [
        item(d, v, m, timestamp=ts)
        for (d, m, _), values in zip(three_series, VALUES, strict=True)
        for v, ts in zip(values, hours_after_t0(len(values)), strict=True)
    ]
    flat = batch(client, admin, items=items).json()["results"]
    position = 0
    for (d, m, model_id), answer, values in zip(three_series, body["series"], VALUES, strict=True):
        expected = flat[position : position + len(values)]
        position += len(values)
        assert (answer["device_id"], answer["metric_name"], answer["model_id"]) == (d, m, model_id)
        assert answer["model_version"] == 1
        assert answer["anomaly_scores"] == [r["anomaly_score"] for r in expected]
        assert answer["is_anomaly"] == [r["is_anomaly"] for r in expected]
        assert answer["anomalous"] == [r["anomalous"] for r in expected]
        assert answer["event_ids"] == [r["event_id"] for r in expected]
        assert answer["explanations"] == [r["explanation"] for r in expected]
        assert answer["threshold"] == expected[0]["threshold"]
    assert body["anomaly_count"] == sum(r["is_anomaly"] for r in flat)


def test_exactly_one_form_is_required(
    client: TestClient, admin: Headers, subtests: pytest.Subtests
) -> None:
    for body in [{}, {"items": None, "series": None}, {"items": [], "series": []}]:
        with subtests.test(body=body):
            response = client.post(BATCH, json=body, headers=admin)
            assert locs(response) == [["body"]]
            assert "exactly one" in messages(response)


def test_both_forms_at_once_are_422(
    client: TestClient, admin: Headers, device: str, model: dict[str, Any], runtime: Runtime
) -> None:
    response = batch(
        client,
        admin,
        items=[item(device, HOT)],
        series=[{"device_id": device, "metric_name": "temperature", "values": [HOT]}],
    )
    assert locs(response) == [["body"]] and "exactly one" in messages(response)
    assert row_counts(runtime)["anomalies"] == 0


BAD_SERIES = [
    ({"values": [1.0, 2.0], "timestamps": [T0]}, ["body", "series", 0]),
    ({"values": [1.0], "timestamps": [T0, T0 + 1]}, ["body", "series", 0]),
    ({"values": []}, ["body", "series", 0, "values"]),
    ({"values": [1.0, "2.0"]}, ["body", "series", 0, "values", 1]),
    ({"values": [1.0, None]}, ["body", "series", 0, "values", 1]),
    ({"values": [1.0], "timestamps": [1_730_000_000]}, ["body", "series", 0, "timestamps", 0]),
    ({"values": 1.0}, ["body", "series", 0, "values"]),
]


@pytest.mark.slow
def test_bad_series_are_422(
    client: TestClient, admin: Headers, device: str, subtests: pytest.Subtests
) -> None:
    for series, loc in BAD_SERIES:
        with subtests.test(series=series):
            body = {"device_id": device, "metric_name": "temperature", **series}
            assert locs(batch(client, admin, series=[body])) == [loc]


def test_bad_item_is_422_naming_its_index(client: TestClient, admin: Headers, device: str) -> None:
    items = [item(device, 1.0), item(device, 2.0), item(device, True)]
    assert locs(batch(client, admin, items=items)) == [["body", "items", 2, "value"]]
    raw = (
        f'{{"items": [{{"device_id": "{device}", "metric_name": "t", "value": 1}},'
        f' {{"device_id": "{device}", "metric_name": "t", "value": NaN}}]}}'
    )
    response = client.post(
        BATCH, content=raw.encode(), headers={**admin, "content-type": "application/json"}
    )
    assert locs(response) == [["body", "items", 1, "value"]]


@pytest.fixture
def small_batches(runtime: Runtime, tmp_path: Path) -> Iterator[TestClient]:
    """An app that scores at most 10 values per request."""
    with limited_client(runtime, tmp_path, max_predict_batch=10) as client:
        yield client


def test_batch_over_the_limit_is_422(
    small_batches: TestClient,
    admin: Headers,
    device: str,
    model: dict[str, Any],
    runtime: Runtime,
) -> None:
    eleven, stamps = [HOT] * 11, hours_after_t0(11)
    for body in (
        {"items": [item(device, v, timestamp=t) for v, t in zip(eleven, stamps, strict=True)]},
        {
            "series": [
                {
                    "device_id": device,
                    "metric_name": "temperature",
                    "values": eleven[:6],
                    "timestamps": stamps[:6],
                },
                {
                    "device_id": device,
                    "metric_name": "temperature",
                    "values": eleven[6:],
                    "timestamps": stamps[6:],
                },
            ]
        },
    ):
        response = small_batches.post(BATCH, json=body, headers=admin)
        assert locs(response) == [["body"]] and "limit is 10" in messages(response)
    assert row_counts(runtime)["anomalies"] == 0
    ten = small_batches.post(
        BATCH, headers=admin, json={"items": [item(device, HOT, timestamp=t) for t in stamps[:10]]}
    )
    assert ten.status_code == 200 and ten.json()["count"] == 10


@pytest.mark.slow
def test_a_series_without_model_fails_the_batch_and_writes_nothing(
    client: TestClient,
    admin: Headers,
    three_series: list[tuple[str, str, str]],
    runtime: Runtime,
    subtests: pytest.Subtests,
) -> None:
    device = three_series[0][0]
    outliers = [HOT, COLD, 99.5]
    series = [
        (device, "temperature", outliers),
        (device, "pressure", [1.0]),
        (three_series[2][0], "temperature", outliers),
    ]
    forms = {
        "items": {
            "items": [
                item(d, v, m, timestamp=t)
                for d, m, vs in series
                for v, t in zip(vs, hours_after_t0(len(vs)), strict=True)
            ]
        },
        "series": {
            "series": [
                {
                    "device_id": d,
                    "metric_name": m,
                    "values": vs,
                    "timestamps": hours_after_t0(len(vs)),
                }
                for d, m, vs in series
            ]
        },
    }
    before = row_counts(runtime)
    for form, body in forms.items():
        with subtests.test(form=form):
            response = client.post(BATCH, json=body, headers=admin)
            assert response.status_code == 404, response.text
            assert "pressure" in response.json()["detail"]
            # Not even the readings of the series with a model are stored.
            assert row_counts(runtime) == before and before["anomalies"] == 0
            for _, _, model_id in three_series:
                assert get_model(client, admin, model_id)["prediction_count"] == 0


@pytest.mark.slow
def test_batch_stores_the_anomalies_it_finds(
    client: TestClient, admin: Headers, three_series: list[tuple[str, str, str]]
) -> None:
    device, metric, model_id = three_series[0]
    values = [NORMAL, HOT, 24.9, COLD, 25.2]
    stamps = [T0 + i * HOUR_MS for i in range(len(values))]
    stamps[3] = "2024-10-27T06:33:20Z"  # ISO works too: T0 + 3 h
    response = batch(
        client,
        admin,
        series=[
            {"device_id": device, "metric_name": metric, "values": values, "timestamps": stamps}
        ],
    )
    assert response.status_code == 200, response.text
    (answer,) = response.json()["series"]
    assert answer["is_anomaly"] == [False, True, False, True, False]
    # Each stored anomaly names the event it opened, as the batch answer does.
    opened = {answer["event_ids"][i] for i in (1, 3)}
    stored = anomalies(client, admin, device_id=device)
    assert {a["event_id"] for a in stored["data"]} == opened and None not in opened
    assert stored["count"] == 2
    by_ts = {to_ms(a["ts"]): a for a in stored["data"]}
    assert set(by_ts) == {T0 + HOUR_MS, T0 + 3 * HOUR_MS}
    assert by_ts[T0 + HOUR_MS]["value"] == HOT and by_ts[T0 + 3 * HOUR_MS]["value"] == COLD
    assert by_ts[T0 + HOUR_MS]["anomaly_score"] == answer["anomaly_scores"][1]
    assert {a["model_id"] for a in stored["data"]} == {model_id}

    items = [
        item(device, HOT, metric, timestamp=T0 - HOUR_MS),
        item(device, NORMAL, metric),
        item(three_series[1][0], 99.0, "humidity", timestamp=T0 - 2 * HOUR_MS),
    ]
    assert batch(client, admin, items=items).json()["anomaly_count"] == 2
    assert anomalies(client, admin)["count"] == 4
    assert to_ms(anomalies(client, admin, metric_name="humidity")["data"][0]["ts"]) == (
        T0 - 2 * HOUR_MS
    )


def test_a_series_given_twice_is_422_and_writes_nothing(
    client: TestClient, admin: Headers, device: str, model: dict[str, Any], runtime: Runtime
) -> None:
    stamps = hours_after_t0(4)
    series = [
        {"device_id": device, "metric_name": "temperature", "values": [NORMAL, HOT],
         "timestamps": stamps[:2]},
        {"device_id": device, "metric_name": "temperature", "values": [COLD, NORMAL],
         "timestamps": stamps[2:]},
    ]  # fmt: skip
    before = row_counts(runtime)
    response = batch(client, admin, series=series)
    assert locs(response) == [["body", "series", 1]]
    assert "already given at position 0" in messages(response)
    assert row_counts(runtime) == before


@pytest.mark.slow
def test_a_large_batch_stores_every_reading_and_anomaly_with_its_explanation(
    client: TestClient, admin: Headers, three_series: list[tuple[str, str, str]], runtime: Runtime
) -> None:
    # Large enough for PostgreSQL to store the readings while they are scored.
    n = OVERLAP_MIN_ROWS + 100
    rng = np.random.default_rng(5)
    values = np.round(rng.normal(25.0, 0.5, n), 2)
    hot = rng.choice(n, 12, replace=False)
    values[hot] = HOT
    series = [
        {"device_id": d, "metric_name": m, "values": values.tolist(),
         "timestamps": hours_after_t0(n)}
        for d, m, _ in three_series
    ]  # fmt: skip
    before = row_counts(runtime)
    response = batch(client, admin, series=series)
    assert response.status_code == 200, response.text
    answers = response.json()["series"]
    assert row_counts(runtime)["telemetry"] == before["telemetry"] + 3 * n
    for (device, metric, model_id), answer in zip(three_series, answers, strict=True):
        flagged = {i for i, flag in enumerate(answer["is_anomaly"]) if flag}
        assert set(hot.tolist()) <= flagged
        page = anomalies(client, admin, device_id=device, metric_name=metric, limit=1000)
        assert page["count"] == len(flagged)
        stamps = hours_after_t0(n)
        expected = {stamps[i]: i for i in flagged}
        for stored in page["data"]:
            i = expected[to_ms(stored["ts"])]
            assert stored["model_id"] == model_id and stored["value"] == values[i]
            assert stored["anomaly_score"] == answer["anomaly_scores"][i]
            assert stored["explanation"] == answer["explanations"][i] is not None
