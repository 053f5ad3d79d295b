"""GET /ml/models/{id}/metrics from known data, and the threshold suggested by feedback."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forewarn.detection.likelihood import decades_score
from forewarn.lifecycle.quality import knob, suggest_threshold
from forewarn.runtime import Runtime
from tests.api.helpers import MODELS, predict, to_ms
from tests.factories import (
    DAY_MS,
    DAY_ROWS,
    FOREST,
    JSON,
    T0,
    Headers,
    Readings,
    make_device,
    normal_readings,
    send_readings,
    store_readings,
    trained_model,
)
from tests.lifecycle.helpers import anomalies, label, model_metrics


def _with_spikes(r: Readings, at: list[int], value: float) -> Readings:
    values = r.values.copy()
    values[at] = value
    return Readings(r.ts, values)


@pytest.fixture
def scored(runtime: Runtime, client: TestClient, operator: Headers) -> tuple[JSON, list[Readings]]:
    """A model that scored two ingested batches with spikes; returns it and the batches."""
    device = make_device(runtime)
    history = normal_readings(3 * DAY_ROWS, start=T0)
    store_readings(runtime, device, history)
    model = trained_model(client, operator, device, **FOREST)
    first = _with_spikes(normal_readings(50, start=history.end, seed=1), [10, 30], 45.0)
    second = _with_spikes(normal_readings(70, start=first.end, seed=2), [20, 40, 60], 44.0)
    second = _with_spikes(second, [50], 26.4)  # a mild excursion: a lower score than a spike
    for batch in (first, second):
        send_readings(client, operator, device, batch)
    return model, [first, second]


def test_metrics_follow_the_scored_readings_and_the_feedback(
    client: TestClient, operator: Headers, viewer: Headers, scored: tuple[JSON, list[Readings]]
) -> None:
    model, batches = scored
    found = anomalies(client, operator, device_id=model["device_id"])
    assert len(found) >= 5  # the five spikes at least
    spikes = [a for a in found if a["value"] >= 44.0]
    for a in spikes[:3]:
        label(client, operator, a["id"], "true_positive")
    label(client, operator, spikes[3]["id"], "false_positive")
    figures = model_metrics(client, viewer, model["id"])
    predictions = sum(len(b.ts) for b in batches)
    first_ms, last_ms = int(batches[0].ts[0]), int(batches[-1].ts[-1])
    assert figures["status"] == "active"
    assert (figures["predictions"], figures["anomalies"]) == (predictions, len(found))
    assert (figures["true_positives"], figures["false_positives"]) == (3, 1)
    assert figures["precision"] == pytest.approx(3 / 4)
    assert figures["false_positive_rate"] == pytest.approx(1 / predictions)
    assert figures["anomalies_per_day"] == pytest.approx(len(found) * DAY_MS / (last_ms - first_ms))
    assert (to_ms(figures["scored_from"]), to_ms(figures["scored_until"])) == (first_ms, last_ms)
    assert figures["latency_calls"] == len(batches)
    assert figures["latency_mean_ms"] > 0 and figures["latency_p95_ms"] > 0
    assert figures["next_retrain_at"] is not None


@pytest.mark.slow
def test_latency_figures_are_the_recorded_durations(
    runtime: Runtime, client: TestClient, viewer: Headers, scored: tuple[JSON, list[Readings]]
) -> None:
    model, _ = scored
    before = model_metrics(client, viewer, model["id"])
    durations = np.random.default_rng(3).lognormal(np.log(0.004), 0.6, 500)
    for k, seconds in enumerate(durations):
        runtime.usage.latency.record(uuid.UUID(model["id"]), float(seconds), (k, k))
    figures = model_metrics(client, viewer, model["id"])
    calls = before["latency_calls"] + len(durations)
    assert figures["latency_calls"] == calls
    mean_ms = (before["latency_mean_ms"] * before["latency_calls"] + durations.sum() * 1000) / calls
    assert figures["latency_mean_ms"] == pytest.approx(mean_ms, rel=1e-9)
    # Two real calls among 502 do not move the 95th percentile out of its 9 % bucket.
    assert figures["latency_p95_ms"] == pytest.approx(np.percentile(durations, 95) * 1000, rel=0.09)


def test_unknown_model_is_404_and_viewers_may_read(client: TestClient, viewer: Headers) -> None:
    response = client.get(f"{MODELS}/{uuid.uuid4()}/metrics", headers=viewer)
    assert response.status_code == 404
    assert client.get(f"{MODELS}/{uuid.uuid4()}/metrics").status_code == 401


# (current threshold, confirmed scores, false-positive scores, suggested, silenced)
SUGGESTIONS = [
    (0.6, [], [], 0.6, 0),
    (0.6, [0.9], [0.7, 0.65], 0.7, 2),
    (0.6, [0.68], [0.7, 0.65], 0.65, 1),  # never above a confirmed incident's score
    (0.6, [], [0.75, 1.0], 0.75, 1),  # a range exit (score 1) cannot be silenced
    (0.6, [0.62], [0.7], 0.6, 0),
    (0.6, [], [0.55], 0.6, 0),  # already below the threshold: never lowered
]


@pytest.mark.parametrize(("current", "true", "false", "suggested", "silenced"), SUGGESTIONS)
def test_the_suggestion_only_rises_above_false_positives(
    current: float, true: list[float], false: list[float], suggested: float, silenced: int
) -> None:
    level, count, reason = suggest_threshold(current, true, false)
    assert (level, count) == (suggested, silenced)
    assert level >= current and all(level < t for t in true)
    assert reason


def test_the_ensemble_is_tuned_through_decades() -> None:
    spec = knob("ensemble")
    assert (spec.parameter, spec.live) == ("decades", False)
    assert spec.from_threshold(decades_score(7.0)) == pytest.approx(7.0)
    assert spec.from_threshold(0.6) > spec.from_threshold(decades_score(7.0))
    assert knob("isolation_forest").live


def _false_alarm(client: TestClient, operator: Headers, model: JSON) -> tuple[JSON, JSON]:
    """The weakest spike labelled false positive, the strongest confirmed."""
    found = sorted(anomalies(client, operator, device_id=model["device_id"]),
                   key=lambda a: a["anomaly_score"])  # fmt: skip
    weak, strong = found[0], found[-1]
    assert weak["anomaly_score"] < strong["anomaly_score"]
    label(client, operator, strong["id"], "true_positive")
    return weak, label(client, operator, weak["id"], "false_positive")


def test_false_positives_suggest_a_higher_threshold(
    client: TestClient, operator: Headers, scored: tuple[JSON, list[Readings]]
) -> None:
    model, _ = scored
    weak, feedback = _false_alarm(client, operator, model)
    assert feedback["threshold_applied"] is None  # auto-tuning is off by default
    suggestion = model_metrics(client, operator, model["id"])["suggestion"]
    assert suggestion["parameter"] == "threshold" and suggestion["applies"] == "at once"
    assert suggestion["current"] == pytest.approx(model["threshold"])
    assert suggestion["suggested"] == pytest.approx(weak["anomaly_score"])
    assert suggestion["suggested"] > suggestion["current"]
    assert model_metrics(client, operator, model["id"])["threshold"] == model["threshold"]


@pytest.mark.slow
@pytest.mark.lifecycle_settings(auto_tune_thresholds=True)
def test_auto_tuning_raises_the_threshold_so_the_false_alarm_stays_quiet(
    client: TestClient, operator: Headers, scored: tuple[JSON, list[Readings]]
) -> None:
    model, batches = scored
    weak, feedback = _false_alarm(client, operator, model)
    assert feedback["threshold_applied"] == pytest.approx(weak["anomaly_score"])
    assert model_metrics(client, operator, model["id"])["threshold"] == pytest.approx(
        weak["anomaly_score"]
    )
    # The point-wise forest scores a value alone: the same value again is no longer reported,
    # while the confirmed incident's value still is.
    later = batches[-1].end
    again = predict(client, operator, model["device_id"], weak["value"], timestamp=later)
    assert again.status_code == 200 and again.json()["is_anomaly"] is False
    strong = max(anomalies(client, operator, device_id=model["device_id"]),
                 key=lambda a: a["anomaly_score"])  # fmt: skip
    real = predict(client, operator, model["device_id"], strong["value"], timestamp=later + 60_000)
    assert real.json()["is_anomaly"] is True


def test_a_retired_model_reads_inactive(
    client: TestClient, operator: Headers, scored: tuple[JSON, list[Readings]]
) -> None:
    model, _ = scored
    assert client.delete(f"{MODELS}/{model['id']}", headers=operator).status_code == 200
    figures = model_metrics(client, operator, model["id"])
    assert (figures["status"], figures["next_retrain_at"]) == ("inactive", None)
