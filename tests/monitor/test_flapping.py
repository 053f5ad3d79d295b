"""100 consecutive scans with conditions that come and go, and GitHub failing now and then:
never two open issues for one finding, and in the end one issue per finding, in step."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from forewarn.db.models import MLModel
from forewarn.runtime import Runtime
from tests.factories import NOW, make_device, model_row
from tests.monitor.fakes import FakeClock, FakeGitHub
from tests.monitor.helpers import escalation, findings, github_settings, make_monitor

pytestmark = pytest.mark.slow

SCANS = 100
MODELS = 6
FAULTS = ("500", "429", "403-rate", "403-secondary", "timeout")
FAULT_METHODS = (None, "GET", "POST", "PATCH")


def flap(runtime: Runtime, models: list[uuid.UUID], now: datetime, rng: random.Random) -> None:
    """Each model is, at random, busy (used now) or dead (unused for 30 hours)."""
    with runtime.sessions() as session:
        for model in models:
            used = now if rng.random() < 0.5 else now - timedelta(hours=30)
            session.execute(update(MLModel).where(MLModel.id == model).values(last_used_at=used))
        session.commit()


def inject(github: FakeGitHub, rng: random.Random) -> None:
    """Sometimes queue a fault; some outlast the retries (timeouts only once: they are slow)."""
    if rng.random() < 0.35:
        kind = rng.choice(FAULTS)
        times = 1 if kind == "timeout" else rng.choice((1, 1, 1, 3))
        github.fail(kind, method=rng.choice(FAULT_METHODS), times=times)


def test_flapping_findings_never_duplicate_an_issue(
    runtime: Runtime, clock: FakeClock, github: FakeGitHub
) -> None:
    rng = random.Random(20261126)
    device = make_device(runtime)
    models = [
        model_row(runtime, device, f"m{i}", trained=NOW - timedelta(hours=48))
        for i in range(MODELS)
    ]
    monitor = make_monitor(
        runtime, clock, **github_settings(github, escalation_retries=2, escalation_timeout_s=0.1)
    )
    for scan in range(SCANS):
        now = NOW + scan * timedelta(minutes=5)
        flap(runtime, models, now, rng)
        inject(github, rng)
        monitor.scan(now)
        assert github.violations == [], f"two open issues for one finding at scan {scan}"

    github.faults.clear()
    monitor.scan(NOW + SCANS * timedelta(minutes=5))  # settle what the last faults left
    assert github.violations == []

    stored = findings(runtime)
    assert len(stored) == MODELS
    for finding in stored.values():
        (issue,) = github.issues_of(finding.fingerprint)  # exactly one, ever
        expected = "open" if finding.status == "open" else "closed"
        assert issue["state"] == expected
        state = escalation(runtime, finding.id, "github")
        assert state is not None and state.ref == str(issue["number"])
        assert finding.occurrences > 5  # it really flapped
    reopened = sum(
        comment.startswith("The condition is back")
        for issue in github.issues.values()
        for comment in issue["comments"]
    )
    assert reopened > 5 * MODELS
    assert len(github.issues) == MODELS
