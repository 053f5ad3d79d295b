"""Fixtures of the health monitor tests: a frozen clock, fake remote services, model rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from forewarn.db.models import Device, HealthEscalation, HealthFinding, MLModel
from forewarn.escalation.channels import build_channels
from forewarn.monitor.scan import HealthMonitor
from forewarn.runtime import Runtime
from forewarn.runtime.container import channel_config, scan_policy
from forewarn.settings import Settings
from tests.monitor.fakes import FakeClock, FakeGitHub, FakeWebhook

TOKEN = "ghp_test_token_0123456789"
REPO = "acme/plant-7"
# The scans' `now`: models are placed relative to it, so no test depends on the wall clock.
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    """The channels' clock and sleep: backoff and rate-limit waits move it, nothing waits."""
    return FakeClock()


@pytest.fixture
def github(clock: FakeClock) -> Iterator[FakeGitHub]:
    """A local GitHub issue API."""
    server = FakeGitHub(clock, TOKEN, REPO)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def webhook(clock: FakeClock) -> Iterator[FakeWebhook]:
    """A local webhook receiver."""
    server = FakeWebhook(clock)
    server.start()
    yield server
    server.stop()


def monitor_settings(runtime: Runtime, **overrides: Any) -> Settings:
    """The runtime's settings with monitor/escalation overrides, validated like the env's."""
    values: dict[str, Any] = {
        "data_dir": runtime.settings.data_dir,
        "database_url": runtime.settings.database_url,
        "secret_key": runtime.secret,
        "escalation_log": False,
        "escalation_timeout_s": 0.25,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def github_settings(github: FakeGitHub, **overrides: Any) -> dict[str, Any]:
    """Overrides that point the GitHub channel at the fake."""
    return {
        "github_token": github.token,
        "github_repo": REPO,
        "github_api_url": github.url,
        **overrides,
    }


def make_monitor(runtime: Runtime, clock: FakeClock, **overrides: Any) -> HealthMonitor:
    """A monitor on the runtime's database whose channels sleep on the fake clock."""
    settings = monitor_settings(runtime, **overrides)
    return HealthMonitor(
        policy=scan_policy(settings),
        engine=runtime.engine,
        sessions=runtime.sessions,
        usage=runtime.usage,
        metrics=runtime.metrics,
        channels=build_channels(channel_config(settings), sleep=clock.sleep, clock=clock.time),
    )


def add_device(runtime: Runtime, name: str = "Pump 7") -> uuid.UUID:
    """A device row."""
    with runtime.sessions() as session:
        device = Device(name=name, type="pump", metadata_={})
        session.add(device)
        session.commit()
        return device.id


def add_model(
    runtime: Runtime,
    device_id: uuid.UUID,
    metric: str = "temperature",
    *,
    version: int = 1,
    active: bool = True,
    trained: datetime = NOW - timedelta(hours=1),
    used: datetime | None = None,
    size: int = 1000,
    write_artifact: bool = False,
) -> uuid.UUID:
    """A model row trained at `trained`, last used at `used` (optionally with a file)."""
    path = f"{device_id}/{metric}/model_v{version}.npz"
    if write_artifact:
        target = runtime.settings.resolved_model_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"\0" * size)
    with runtime.sessions() as session:
        model = MLModel(
            device_id=device_id,
            metric_name=metric,
            version=version,
            algorithm="ensemble",
            parameters={},
            training_start=trained - timedelta(days=7),
            training_end=trained,
            sample_count=100,
            threshold=0.9,
            artifact_path=path,
            artifact_size=size,
            created_at=trained,
            last_used_at=used,
            prediction_count=0 if used is None else 5,
            anomaly_count=0,
            is_active=active,
        )
        session.add(model)
        session.commit()
        return model.id


def set_used(runtime: Runtime, model_id: uuid.UUID, used: datetime | None) -> None:
    """Move a model's last prediction time."""
    with runtime.sessions() as session:
        model = session.get(MLModel, model_id)
        assert model is not None
        model.last_used_at = used
        session.commit()


def failures(runtime: Runtime, channel: str) -> float:
    """escalation_failures{channel} so far."""
    value = runtime.metrics.registry.get_sample_value(
        "forewarn_escalation_failures_total", {"channel": channel}
    )
    return value or 0.0


def findings(runtime: Runtime, status: str | None = None) -> dict[str, HealthFinding]:
    """Stored findings by subject."""
    with runtime.sessions() as session:
        query = select(HealthFinding)
        if status is not None:
            query = query.where(HealthFinding.status == status)
        return {f.subject: f for f in session.scalars(query)}


def escalation(runtime: Runtime, finding_id: uuid.UUID, channel: str) -> HealthEscalation | None:
    """A finding's escalation row on one channel."""
    with runtime.sessions() as session:
        return session.get(HealthEscalation, (finding_id, channel))
