"""Pipeline stages run inside the transaction: they see the scored readings, and one that
raises takes the readings and anomalies down with it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forewarn.db.models import AnomalyDetection, Telemetry
from forewarn.pipeline.ingest import ReadingPipeline
from forewarn.pipeline.stages import ScoredSeries, Stage
from forewarn.runtime import Runtime
from forewarn.telemetry.store import Row
from tests.factories import (
    FOREST,
    HOUR_MS,
    T0,
    Headers,
    normal_readings,
    register_device,
    trained_model,
)
from tests.ingest.helpers import telemetry
from tests.stream.helpers import HOT, NORMAL


class Looking:
    """A stage that records what it was given and what the transaction held meanwhile."""

    def __init__(self) -> None:
        self.anomalies: list[tuple[int, object]] = []
        self.stored_then = (0, 0)

    def after_scoring(self, session: Session, scored: Sequence[ScoredSeries]) -> None:
        """Remember the flagged readings and the rows the session sees right now."""
        for series in scored:
            values = dict(series.readings)
            self.anomalies += [(v.ts, values[v.ts]) for v in series.anomalies]
        count = select(func.count())
        self.stored_then = (
            session.scalar(count.select_from(Telemetry).where(Telemetry.ts > T0)) or 0,
            session.scalar(count.select_from(AnomalyDetection)) or 0,
        )


class Refusing:
    """A stage that fails (an alarm rule that cannot be evaluated, say)."""

    def after_scoring(self, session: Session, scored: Sequence[ScoredSeries]) -> None:
        """Always raise."""
        raise RuntimeError("stage failed")


def pipeline_with(runtime: Runtime, *stages: Stage) -> ReadingPipeline:
    """The runtime's pipeline parts with these stages."""
    return ReadingPipeline(
        registry=runtime.registry,
        scorer=runtime.scorer,
        ingested=runtime.metrics.readings_ingested,
        stages=stages,
    )


def two_readings(device_id: uuid.UUID) -> dict[uuid.UUID, list[Row]]:
    """A normal reading and a spike, after the training window."""
    return {
        device_id: [
            Row(device_id, "temperature", T0 + HOUR_MS, NORMAL),
            Row(device_id, "temperature", T0 + 2 * HOUR_MS, HOT),
        ]
    }


def ingested(runtime: Runtime) -> float:
    """readings_ingested{transport="http"} so far."""
    sample = "forewarn_readings_ingested_total"
    return runtime.metrics.registry.get_sample_value(sample, {"transport": "http"}) or 0.0


def test_a_stage_sees_the_scored_readings_inside_the_transaction(
    runtime: Runtime, client: TestClient, admin: Headers
) -> None:
    device_id = uuid.UUID(register_device(client, admin))
    trained_model(client, admin, device_id, normal_readings(200), **FOREST)
    looking = Looking()
    before = ingested(runtime)
    with runtime.sessions() as session:
        done = pipeline_with(runtime, looking).ingest(
            session, two_readings(device_id), transport="http"
        )
    assert looking.anomalies == [(T0 + 2 * HOUR_MS, HOT)]
    assert looking.stored_then == (2, 1)  # readings and anomaly already in, not yet committed
    assert (done.readings, done.scored, done.anomalies) == (2, 2, 1)
    assert ingested(runtime) - before == 2


def test_a_stage_that_raises_rolls_back_readings_and_anomalies(
    runtime: Runtime, client: TestClient, admin: Headers
) -> None:
    device_id = uuid.UUID(register_device(client, admin))
    trained_model(client, admin, device_id, normal_readings(200), **FOREST)
    stored_before = telemetry(runtime, device_id)
    before = ingested(runtime)
    looking = Looking()
    with runtime.sessions() as session, pytest.raises(RuntimeError, match="stage failed"):
        pipeline_with(runtime, looking, Refusing()).ingest(
            session, two_readings(device_id), transport="http"
        )
    assert looking.stored_then == (2, 1)  # the first stage ran, inside the transaction
    assert telemetry(runtime, device_id) == stored_before
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AnomalyDetection)) == 0
    assert ingested(runtime) == before
