"""Pruning inactive model versions beyond the newest N per series, with their artifacts."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from forewarn.db.models import AnomalyDetection, MLModel
from forewarn.monitor.prune import plan_prune, prune
from forewarn.runtime import Runtime
from tests.factories import NOW, make_device, model_row
from tests.monitor.fakes import FakeClock
from tests.monitor.helpers import findings, make_monitor


def series(runtime: Runtime, device: uuid.UUID, metric: str, inactive: int) -> list[uuid.UUID]:
    """`inactive` old versions (with files) and an active newest one; ids oldest first."""
    ids = [
        model_row(runtime, device, metric, version=v, active=False, write_artifact=True)
        for v in range(1, inactive + 1)
    ]
    return [*ids, model_row(runtime, device, metric, version=inactive + 1, used=NOW)]


def add_anomalies(runtime: Runtime, model_id: uuid.UUID, device: uuid.UUID, count: int) -> None:
    """Anomalies recorded by a model version."""
    with runtime.sessions() as session:
        for i in range(count):
            session.add(
                AnomalyDetection(
                    model_id=model_id,
                    device_id=device,
                    metric_name="flow",
                    value=1.0,
                    anomaly_score=0.99,
                    threshold=0.9,
                    ts=i,
                )
            )
        session.commit()


def versions(runtime: Runtime, device: uuid.UUID, metric: str) -> list[int]:
    """Stored versions of a series."""
    with runtime.sessions() as session:
        query = select(MLModel.version).where(
            MLModel.device_id == device, MLModel.metric_name == metric
        )
        return sorted(session.scalars(query))


def test_prune_keeps_the_newest_inactive_versions_and_the_active_one(runtime: Runtime) -> None:
    device = make_device(runtime)
    flow = series(runtime, device, "flow", inactive=8)
    series(runtime, device, "pressure", inactive=2)
    add_anomalies(runtime, flow[0], device, 3)
    model_dir = runtime.settings.resolved_model_dir

    with runtime.sessions() as session:
        plan = prune(session, runtime.registry, keep=3)
    assert [(m.metric_name, m.version) for m in plan] == [("flow", v) for v in range(1, 6)]
    assert plan[0].anomalies == 3 and sum(m.anomalies for m in plan) == 3
    assert versions(runtime, device, "flow") == [6, 7, 8, 9]
    assert versions(runtime, device, "pressure") == [1, 2, 3]
    assert not any((model_dir / m.artifact_path).exists() for m in plan)
    assert len(list((model_dir / str(device) / "flow").glob("*.npz"))) == 3
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AnomalyDetection)) == 0


def test_a_dry_run_changes_nothing(runtime: Runtime) -> None:
    device = make_device(runtime)
    series(runtime, device, "flow", inactive=4)
    with runtime.sessions() as session:
        plan = prune(session, runtime.registry, keep=1, dry_run=True)
    assert [m.version for m in plan] == [1, 2, 3]
    assert versions(runtime, device, "flow") == [1, 2, 3, 4, 5]
    assert all((runtime.settings.resolved_model_dir / m.artifact_path).exists() for m in plan)


def test_keep_zero_removes_every_inactive_version_but_never_the_active(runtime: Runtime) -> None:
    device = make_device(runtime)
    series(runtime, device, "flow", inactive=3)
    with runtime.sessions() as session:
        prune(session, runtime.registry, keep=0)
        assert plan_prune(session, 0) == []
    assert versions(runtime, device, "flow") == [4]


def test_the_cleanup_finding_resolves_after_a_prune(runtime: Runtime, clock: FakeClock) -> None:
    device = make_device(runtime)
    series(runtime, device, "flow", inactive=7)
    monitor = make_monitor(runtime, clock)
    monitor.scan(NOW)
    assert findings(runtime)[f"{device}/flow"].status == "open"
    with runtime.sessions() as session:
        prune(session, runtime.registry, keep=5)
    monitor.scan(NOW + timedelta(minutes=5))
    assert findings(runtime)[f"{device}/flow"].status == "resolved"
