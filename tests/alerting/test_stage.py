"""The alarm stage through HTTP ingest: an excursion raises one alarm, more anomalous
readings repeat it, the end of the excursion clears it, and a rejected batch leaves nothing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forewarn.alerting.stage import AlarmStage
from forewarn.db.models import AlarmAuditRow, AlarmRow, AlarmRuleStateRow
from forewarn.pipeline.ingest import ReadingPipeline
from forewarn.pipeline.stages import ScoredSeries
from forewarn.runtime import Runtime
from forewarn.telemetry.store import Row
from tests.alerting.helpers import Plant, alarm, alarms
from tests.api.helpers import anomalies
from tests.factories import HOUR_MS, T0, Headers, Readings, send_readings

HOT = 60.0


def test_an_excursion_raises_one_alarm_that_repeats_and_clears(
    client: TestClient, admin: Headers
) -> None:
    plant = Plant(client, admin)
    plant.normal(10)
    assert alarms(client, admin)["count"] == 0
    assert plant.hot(HOT) == 1
    (raised,) = alarms(client, admin)["data"]
    (anomaly,) = anomalies(client, admin)["data"]
    assert raised["status"] == "ACTIVE_UNACK"
    assert raised["severity"] in {"WARNING", "MINOR", "MAJOR", "CRITICAL"}
    assert raised["event_id"] == anomaly["event_id"] is not None
    assert raised["originator"] == f"{plant.device}/temperature"
    assert (raised["rule_id"], raised["repeats"]) == ("ml-default", 0)

    plant.hot(-40.0, 90.0)
    page = alarms(client, admin)
    assert page["count"] == 1
    (repeated,) = page["data"]
    assert repeated["id"] == raised["id"]
    assert repeated["repeats"] >= 1
    assert repeated["last_value"] == 90.0

    plant.normal(30, seed=2)
    (cleared,) = alarms(client, admin)["data"]
    assert cleared["status"] == "CLEARED_UNACK"
    assert cleared["clear_ts"] is not None
    trail = alarm(client, admin, cleared["id"])["audit"]
    actions = [e["action"] for e in trail]
    assert (actions[0], actions[-1]) == ("raise", "clear")
    assert "repeat" in actions
    assert {e["actor"] for e in trail} == {"system"}


def test_a_new_excursion_after_the_clear_opens_a_new_alarm(
    client: TestClient, admin: Headers
) -> None:
    plant = Plant(client, admin)
    plant.normal(10)
    plant.hot(HOT)
    plant.normal(30, seed=2)
    plant.hot(HOT)
    page = alarms(client, admin)
    assert page["count"] == 2
    assert [a["status"] for a in page["data"]] == ["ACTIVE_UNACK", "CLEARED_UNACK"]


def test_normal_readings_raise_nothing(client: TestClient, admin: Headers) -> None:
    plant = Plant(client, admin)
    assert plant.normal(40) == 0
    assert alarms(client, admin)["count"] == 0


class Refusing:
    """A later stage that fails, so the transaction is rolled back; it notes the alarms the
    transaction held by then."""

    alarms_then = 0

    def after_scoring(self, session: Session, scored: Sequence[ScoredSeries]) -> None:
        """Count the alarms so far, then raise."""
        self.alarms_then = session.scalar(select(func.count()).select_from(AlarmRow)) or 0
        raise RuntimeError("stage failed")


def test_a_rejected_batch_writes_no_alarm_and_no_rule_state(
    runtime: Runtime, client: TestClient, admin: Headers
) -> None:
    device_id = uuid.UUID(Plant(client, admin).device)
    pipeline = ReadingPipeline(
        registry=runtime.registry,
        scorer=runtime.scorer,
        ingested=runtime.metrics.readings_ingested,
        stages=(AlarmStage(), refusing := Refusing()),
    )
    rows = [Row(device_id, "temperature", T0 + HOUR_MS, HOT)]
    with runtime.sessions() as session, pytest.raises(RuntimeError, match="stage failed"):
        pipeline.ingest(session, {device_id: rows}, transport="http")
    assert refusing.alarms_then == 1  # the alarm was raised inside the transaction
    with runtime.sessions() as session:
        for table in (AlarmRow, AlarmAuditRow, AlarmRuleStateRow):
            assert session.scalar(select(func.count()).select_from(table)) == 0


def test_a_late_reading_does_not_move_the_alarm(client: TestClient, admin: Headers) -> None:
    plant = Plant(client, admin)
    plant.normal(10)
    plant.hot(HOT)
    (before,) = alarms(client, admin)["data"]
    late = Readings(np.array([T0 + 1], dtype=np.int64), np.array([25.0]))  # before the alarm
    send_readings(client, admin, plant.device, late)
    assert alarms(client, admin)["data"] == [before]
