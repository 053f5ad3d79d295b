"""Which series are due, the scheduled job on a controllable clock, per-model schedules."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from forewarn.db.models import MLModel
from forewarn.lifecycle.due import due_models
from forewarn.runtime import Runtime
from forewarn.runtime.retrain_job import JOB_NAME, register_retraining_job, retraining_job
from tests.api.helpers import MODELS, locs
from tests.factories import (
    DAY_ROWS,
    FOREST,
    JSON,
    T0,
    Headers,
    make_device,
    normal_readings,
    store_readings,
    trained_model,
)

WEEKLY = "0 3 * * 0"


def _model(runtime: Runtime, client: TestClient, headers: Headers) -> tuple[MLModel, JSON]:
    device = make_device(runtime)
    store_readings(runtime, device, normal_readings(3 * DAY_ROWS, start=T0))
    model = trained_model(client, headers, device, **FOREST)
    with runtime.sessions() as session:
        row = session.get(MLModel, uuid.UUID(model["id"]))
        assert row is not None
        session.expunge(row)
    return row, model


def test_a_series_is_due_once_its_schedule_fired_after_its_last_training(
    runtime: Runtime, client: TestClient, operator: Headers
) -> None:
    row, _ = _model(runtime, client, operator)
    created = row.created_at
    with runtime.sessions() as session:
        assert due_models(session, WEEKLY, created) == []
        assert due_models(session, WEEKLY, created + timedelta(days=8)) == [row.id]
        assert due_models(session, "* * * * *", created + timedelta(minutes=1)) == [row.id]


def test_a_model_schedule_overrides_the_global_one(
    runtime: Runtime, client: TestClient, operator: Headers, viewer: Headers
) -> None:
    row, model = _model(runtime, client, operator)
    url = f"{MODELS}/{model['id']}/retrain-schedule"
    assert (
        client.put(url, json={"retrain_schedule": "0 0 1 1 *"}, headers=viewer).status_code == 403
    )
    response = client.put(url, json={"retrain_schedule": "0 0 1 1 *"}, headers=operator)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["retrain_schedule"], body["effective_schedule"]) == ("0 0 1 1 *", "0 0 1 1 *")
    with runtime.sessions() as session:
        assert due_models(session, WEEKLY, row.created_at + timedelta(days=8)) == []
    cleared = client.put(url, json={"retrain_schedule": None}, headers=operator).json()
    assert cleared["effective_schedule"] == runtime.settings.retrain_schedule
    assert client.get(url, headers=viewer).json() == cleared


@pytest.mark.parametrize("bad", ["61 * * * *", "0 3 * *", "0 0 31 2 *"])
def test_a_bad_schedule_is_refused_naming_the_field(
    runtime: Runtime, client: TestClient, operator: Headers, bad: str
) -> None:
    _, model = _model(runtime, client, operator)
    url = f"{MODELS}/{model['id']}/retrain-schedule"
    response = client.put(url, json={"retrain_schedule": bad}, headers=operator)
    assert ["body", "retrain_schedule"] in locs(response)
    assert client.put(f"{MODELS}/{uuid.uuid4()}/retrain-schedule", json={"retrain_schedule": None},
                      headers=operator).status_code == 404  # fmt: skip


def test_the_job_retrains_due_series_on_its_clock(
    runtime: Runtime, client: TestClient, operator: Headers
) -> None:
    row, _ = _model(runtime, client, operator)
    later = (row.created_at + timedelta(days=8)).timestamp()
    job = retraining_job(runtime, clock=lambda: later)
    (outcome,) = job.run()
    assert outcome.champion_id == row.id and outcome.candidate_id is not None
    assert not job.backlog
    assert job.next_due(later) == later + runtime.settings.retrain_check_interval_s
    assert job.run() == []  # the attempt was recorded: nothing is due at the same time


@pytest.mark.lifecycle_settings(retrain_budget_s=1e-9)
def test_a_spent_budget_leaves_a_backlog_picked_up_soon(
    runtime: Runtime, client: TestClient, operator: Headers
) -> None:
    first, _ = _model(runtime, client, operator)
    _model(runtime, client, operator)
    later = (first.created_at + timedelta(days=8)).timestamp()
    job = retraining_job(runtime, clock=lambda: later)
    assert len(job.run()) <= 1
    assert job.backlog and job.next_due(later) == later + 1.0


def test_the_job_is_registered_unless_disabled(runtime: Runtime) -> None:
    assert register_retraining_job(runtime) is not None
    assert JOB_NAME in runtime.jobs.jobs


@pytest.mark.lifecycle_settings(retrain_enabled=False)
def test_no_job_when_retraining_is_disabled(runtime: Runtime) -> None:
    assert register_retraining_job(runtime) is None
    assert JOB_NAME not in runtime.jobs.jobs
