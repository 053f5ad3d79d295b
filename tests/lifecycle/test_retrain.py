"""Champion/challenger retraining: promotion, rejection with reasons, confirmed incidents
left out of the training readings, and the failure paths."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from forewarn.db.models import MLModel
from forewarn.lifecycle.due import due_models
from forewarn.lifecycle.retrain import plan_retraining, retrain_series
from forewarn.lifecycle.training import fit_model
from forewarn.runtime import Runtime
from forewarn.scoring.registry import ActiveModel
from tests.api.helpers import predict, to_ms
from tests.factories import (
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


def _models(runtime: Runtime, device: uuid.UUID) -> list[MLModel]:
    with runtime.sessions() as session:
        query = select(MLModel).where(MLModel.device_id == device).order_by(MLModel.version)
        return list(session.scalars(query))


def _champion(
    runtime: Runtime, client: TestClient, headers: Headers
) -> tuple[uuid.UUID, JSON, Readings]:
    """A device with a week of normal readings and a model trained on them."""
    device = make_device(runtime)
    week = normal_readings(7 * DAY_ROWS, start=T0)
    store_readings(runtime, device, week)
    return device, trained_model(client, headers, device, **FOREST), week


def test_a_better_challenger_is_promoted(
    runtime: Runtime, client: TestClient, operator: Headers
) -> None:
    device, champion, week = _champion(runtime, client, operator)
    shifted = normal_readings(
        2 * DAY_ROWS, start=week.end, mean=30.0, seed=1
    )  # the new normal level
    store_readings(runtime, device, shifted)
    outcome = retrain_series(runtime.retrainer, uuid.UUID(champion["id"]))
    assert outcome.promoted and outcome.reason is None
    assert outcome.evaluation is not None
    old, new = outcome.evaluation["champion"], outcome.evaluation["challenger"]
    assert old["rows"] == new["rows"] == DAY_ROWS
    assert new["alarms"] < old["alarms"]
    first, second = _models(runtime, device)
    assert (first.status, first.is_active, first.retrained_at is not None) == (
        "inactive",
        False,
        True,
    )
    assert (second.id, second.status, second.is_active) == (outcome.candidate_id, "active", True)
    assert second.algorithm == first.algorithm and second.parameters == first.parameters
    # What was promoted is what was tested: trained on readings before the held-out day.
    held_from = outcome.evaluation["held_out"]["from"]
    assert int(second.training_end.timestamp() * 1000) < held_from
    figures = model_metrics(client, operator, str(second.id))
    assert figures["evaluation"] == outcome.evaluation
    served = predict(client, operator, str(device), 30.0, timestamp=shifted.end)
    assert served.json()["model_version"] == 2


def _unreported_fault_then_incident(
    runtime: Runtime, client: TestClient, operator: Headers
) -> tuple[uuid.UUID, JSON]:
    """A day at 40 nobody reported (so a retrained model learns it as normal), then a day in
    which the champion found an incident at 40 that an operator confirmed."""
    device, champion, week = _champion(runtime, client, operator)
    fault = normal_readings(DAY_ROWS, start=week.end, mean=40.0, seed=1)
    store_readings(runtime, device, fault)
    day = normal_readings(DAY_ROWS, start=fault.end, seed=2)
    day.values[100:103] = 40.0
    send_readings(client, operator, device, day)
    incident = [a for a in anomalies(client, operator, device_id=str(device)) if a["value"] == 40.0]
    assert len(incident) == 1  # the champion reported the excursion to 40 once
    label(client, operator, incident[0]["id"], "true_positive")
    return device, champion


@pytest.mark.lifecycle_settings(feedback_window_minutes=10)
def test_a_challenger_that_misses_a_confirmed_incident_is_rejected(
    runtime: Runtime, client: TestClient, operator: Headers
) -> None:
    device, champion = _unreported_fault_then_incident(runtime, client, operator)
    outcome = retrain_series(runtime.retrainer, uuid.UUID(champion["id"]))
    assert not outcome.promoted
    assert outcome.reason is not None
    assert "finds 0 of 1 confirmed incidents" in outcome.reason
    assert "the current model finds 1" in outcome.reason
    first, second = _models(runtime, device)
    assert (first.id, first.is_active, first.status) == (uuid.UUID(champion["id"]), True, "active")
    assert (second.status, second.is_active, second.rejection_reason) == (
        "rejected",
        False,
        outcome.reason,
    )
    figures = model_metrics(client, operator, str(second.id))
    assert (figures["status"], figures["rejection_reason"]) == ("rejected", outcome.reason)
    assert figures["next_retrain_at"] is None
    # The attempt counts: the series is not due again until its schedule fires again.
    with runtime.sessions() as session:
        assert first.retrained_at is not None
        assert due_models(session, "* * * * *", first.retrained_at) == []


@pytest.mark.lifecycle_settings(feedback_window_minutes=60)
def test_readings_of_confirmed_incidents_are_left_out_of_training(
    runtime: Runtime, client: TestClient, operator: Headers
) -> None:
    device, champion, week = _champion(runtime, client, operator)
    day = normal_readings(DAY_ROWS, start=week.end, seed=1)
    day.values[50:56] = 40.0  # an hour-long fault, found by the champion
    send_readings(client, operator, device, day)
    store_readings(
        runtime, device, normal_readings(DAY_ROWS, start=day.end, seed=2)
    )  # the held-out day
    fault_ts = {int(t) for t in day.ts[50:56]}

    def training_ts() -> set[int]:
        with runtime.sessions() as session:
            row = session.get(MLModel, uuid.UUID(champion["id"]))
            assert row is not None
            plan = plan_retraining(
                session, runtime.retrainer.policy, row, ActiveModel.from_row(row)
            )
            return {int(t) for t in fit_model(session, plan.spec).ts}

    before = training_ts()
    assert fault_ts <= before  # unconfirmed, the fault is training data
    found = anomalies(client, operator, device_id=str(device))
    first = min((a for a in found if a["value"] == 40.0), key=lambda a: a["ts"])
    label(client, operator, first["id"], "true_positive")
    after = training_ts()
    window = {t for t in before if abs(t - to_ms(first["ts"])) <= 60 * 60_000}
    assert fault_ts <= window and after == before - window
    outcome = retrain_series(runtime.retrainer, uuid.UUID(champion["id"]))
    assert outcome.evaluation is not None
    assert outcome.evaluation["training_readings"] == len(after)
    assert outcome.evaluation["excluded_windows"] == [
        [to_ms(first["ts"]) - 3_600_000, to_ms(first["ts"]) + 3_600_000]
    ]
    stored = next(m for m in _models(runtime, device) if m.id == outcome.candidate_id)
    assert stored.sample_count == len(after)


@pytest.mark.lifecycle_settings(retrain_holdout_days=0.01)
def test_too_few_held_out_readings_reject_the_candidate(
    runtime: Runtime, client: TestClient, operator: Headers
) -> None:
    _, champion, _ = _champion(runtime, client, operator)
    outcome = retrain_series(runtime.retrainer, uuid.UUID(champion["id"]))
    assert not outcome.promoted
    assert (
        outcome.reason == "only 2 readings in the held-out last 0.01 days; 10 are needed to compare"
    )


def test_a_dry_run_stores_nothing(runtime: Runtime, client: TestClient, operator: Headers) -> None:
    device, champion, week = _champion(runtime, client, operator)
    store_readings(
        runtime, device, normal_readings(2 * DAY_ROWS, start=week.end, mean=30.0, seed=1)
    )
    outcome = retrain_series(runtime.retrainer, uuid.UUID(champion["id"]), dry_run=True)
    assert outcome.promoted and outcome.candidate_id is None and outcome.evaluation is not None
    (only,) = _models(runtime, device)
    assert (only.is_active, only.retrained_at) == (True, None)


@pytest.mark.slow
def test_a_series_that_cannot_be_retrained_reports_why(
    runtime: Runtime, client: TestClient, operator: Headers
) -> None:
    device = make_device(runtime)
    store_readings(
        runtime, device, normal_readings(12, start=T0)
    )  # enough to train, all inside the held-out day
    champion = trained_model(client, operator, device, **FOREST)
    outcome = retrain_series(runtime.retrainer, uuid.UUID(champion["id"]))
    assert not outcome.promoted and outcome.candidate_id is None
    assert outcome.reason is not None and outcome.reason.startswith("failed: found 0 readings")
    (only,) = _models(runtime, device)
    assert only.is_active and only.retrained_at is not None
    assert retrain_series(runtime.retrainer, uuid.uuid4()).reason == "not active"
