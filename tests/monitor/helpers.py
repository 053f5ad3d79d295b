"""Helpers of the health monitor tests: settings, a monitor on a fake clock, stored rows.

The scans run at tests.factories.NOW: models are placed relative to it (see
tests.factories.model_row), so no test depends on the wall clock.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from forewarn.db.models import HealthEscalation, HealthFinding, MLModel
from forewarn.escalation.channels import build_channels
from forewarn.monitor.scan import HealthMonitor
from forewarn.runtime import Runtime
from forewarn.runtime.container import channel_config, scan_policy
from forewarn.settings import Settings
from tests.monitor.fakes import FakeClock, FakeGitHub

TOKEN = "ghp_test_token_0123456789"
REPO = "acme/plant-7"


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
