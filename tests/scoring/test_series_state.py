"""SeriesStates: a state is reused only while it sits on the newest stored reading."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from forewarn.detection.base import Detector
from forewarn.lifecycle.training import TrainSpec, train_model
from forewarn.runtime import Runtime
from forewarn.scoring.registry import ActiveModel
from forewarn.scoring.series_state import SeriesStates
from forewarn.telemetry.store import Row, write_rows
from tests.factories import make_device, normal_readings, store_readings

STEP = 600_000
T0 = 1_730_000_000_000


def _series(runtime: Runtime, session: Session, name: str) -> tuple[ActiveModel, Detector]:
    """A device with 100 stored readings up to T0 and its active default model."""
    device_id = make_device(runtime, name)
    store_readings(runtime, device_id, normal_readings(100, end=T0, step_ms=STEP))
    train_model(
        session, runtime.registry, runtime.artifact_key, TrainSpec(device_id, "temperature")
    )
    model = runtime.registry.active(session, device_id, "temperature")
    return model, runtime.registry.detector(model)


def _store(session: Session, model: ActiveModel, ts: int, value: float) -> None:
    write_rows(session.connection(), [Row(model.device_id, "temperature", ts, value)])


def test_a_positioned_stream_is_reused_and_a_back_fill_rebuilds_it(runtime: Runtime) -> None:
    store = SeriesStates(capacity=10)
    with runtime.sessions() as session:
        model, detector = _series(runtime, session, "Pump")
        _store(session, model, T0 + STEP, 25.2)
        first = store.state_for(session, model, detector, T0 + STEP)
        first.update(T0 + STEP, 25.2)
        store.advanced(model.id, first, T0 + STEP)

        _store(session, model, T0 + 3 * STEP, 25.1)
        assert store.state_for(session, model, detector, T0 + 3 * STEP) is first

        _store(session, model, T0 + 2 * STEP, 24.9)  # arrives late, before the next reading
        assert store.state_for(session, model, detector, T0 + 3 * STEP) is not first
        assert store.state_for(session, model, detector, T0 + 2 * STEP) is first


@pytest.mark.parametrize("max_streams", [1, 2])
def test_the_least_recently_used_stream_is_dropped(runtime: Runtime, max_streams: int) -> None:
    store = SeriesStates(capacity=max_streams)
    with runtime.sessions() as session:
        models = [_series(runtime, session, name) for name in ("Pump", "Fan")]
        kept: dict[uuid.UUID, object] = {}
        for model, detector in models:
            state = store.state_for(session, model, detector, T0 + STEP)
            store.advanced(model.id, state, T0)
            kept[model.id] = state
        (old, old_detector), (new, new_detector) = models
        assert store.state_for(session, new, new_detector, T0 + STEP) is kept[new.id]
        reused = store.state_for(session, old, old_detector, T0 + STEP) is kept[old.id]
        assert reused is (max_streams == 2)
        store.forget(new.id)
        assert store.state_for(session, new, new_detector, T0 + STEP) is not kept[new.id]
