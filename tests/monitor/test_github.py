"""GitHub escalation against a local fake of the issue API, with injected failures."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from forewarn.db.models import HealthFinding
from forewarn.monitor.scan import HealthMonitor
from forewarn.runtime import Runtime
from tests.factories import NOW, make_device, model_row
from tests.monitor.fakes import FakeClock, FakeGitHub
from tests.monitor.helpers import (
    REPO,
    escalation,
    failures,
    findings,
    github_settings,
    make_monitor,
    set_used,
)

HOUR = timedelta(hours=1)
ISSUES = f"/repos/{REPO}/issues"


def github_monitor(
    runtime: Runtime, clock: FakeClock, github: FakeGitHub, **overrides: Any
) -> HealthMonitor:
    """A monitor whose only channel is the fake GitHub."""
    return make_monitor(runtime, clock, **github_settings(github, **overrides))


def creates(github: FakeGitHub) -> int:
    """POSTs that created an issue (answered or not)."""
    return github.requests.count(("POST", ISSUES))


def dead_model(runtime: Runtime) -> uuid.UUID:
    """An active model that has not predicted for 30 hours: one 'inactive' finding."""
    device = make_device(runtime)
    return model_row(runtime, device, trained=NOW - 48 * HOUR, used=NOW - 30 * HOUR)


def test_an_issue_is_filed_once_closed_when_cleared_and_reopened_on_recurrence(
    runtime: Runtime, clock: FakeClock, github: FakeGitHub
) -> None:
    model = dead_model(runtime)
    monitor = github_monitor(runtime, clock, github)
    monitor.scan(NOW)
    finding = findings(runtime)[str(model)]
    (issue,) = github.issues.values()
    assert issue["title"] == "Model temperature v1 of Pump 7 is inactive, may be dead"
    assert issue["labels"] == ["ml", "ml-monitoring"]
    assert f"forewarn-fingerprint: {finding.fingerprint}" in issue["body"]
    state = escalation(runtime, finding.id, "github")
    assert state is not None and (state.state, state.ref) == ("open", "1")

    monitor.scan(NOW + HOUR)
    assert creates(github) == 1 and issue["state"] == "open"

    set_used(runtime, model, NOW + HOUR)
    monitor.scan(NOW + 2 * HOUR)
    assert issue["state"] == "closed"
    assert issue["comments"][-1].startswith("No longer seen by the health scan")

    set_used(runtime, model, NOW - 30 * HOUR)
    monitor.scan(NOW + 3 * HOUR)
    assert (len(github.issues), issue["state"]) == (1, "open")
    assert issue["comments"][-1].startswith("The condition is back (occurrence 2")
    assert github.violations == []


def test_lost_local_state_adopts_the_open_issue_instead_of_filing_again(
    runtime: Runtime, clock: FakeClock, github: FakeGitHub
) -> None:
    model = dead_model(runtime)
    github_monitor(runtime, clock, github).scan(NOW)
    with runtime.sessions() as session:  # e.g. the database was restored from a backup
        session.execute(delete(HealthFinding))
        session.commit()
    github_monitor(runtime, clock, github).scan(NOW + HOUR)
    assert creates(github) == 1
    state = escalation(runtime, findings(runtime)[str(model)].id, "github")
    assert state is not None and (state.state, state.ref) == ("open", "1")


@pytest.mark.slow
def test_a_create_whose_answer_times_out_is_found_by_the_retry(
    runtime: Runtime, clock: FakeClock, github: FakeGitHub
) -> None:
    dead_model(runtime)
    github.fail("timeout", method="POST", path=ISSUES)
    report = github_monitor(runtime, clock, github).scan(NOW)
    assert (report.escalated, report.escalation_failures) == (1, 0)
    assert creates(github) == 1 and len(github.issues) == 1
    assert clock.slept == [1.0]  # one backoff, then the search found the issue


def test_server_errors_are_retried_with_exponential_backoff(
    runtime: Runtime, clock: FakeClock, github: FakeGitHub
) -> None:
    dead_model(runtime)
    github.fail("500", times=3)
    report = github_monitor(runtime, clock, github).scan(NOW)
    assert (report.escalated, len(github.issues)) == (1, 1)
    assert clock.slept == [1.0, 2.0, 4.0]


def test_rate_limits_are_waited_out_as_their_headers_say(
    runtime: Runtime, clock: FakeClock, github: FakeGitHub
) -> None:
    dead_model(runtime)
    github.fail("403-rate", method="GET")  # primary: X-RateLimit-Reset 30 s ahead
    github.fail("429", method="POST")  # Retry-After: 2
    github.fail("403-secondary", method="GET")  # Retry-After: 5
    report = github_monitor(runtime, clock, github, escalation_retries=5).scan(NOW)
    assert (report.escalated, len(github.issues)) == (1, 1)
    assert clock.slept == [30.0, 5.0, 2.0]


def test_a_long_rate_limit_pauses_the_channel_until_a_later_scan(
    runtime: Runtime, clock: FakeClock, github: FakeGitHub
) -> None:
    device = make_device(runtime)
    for metric in ("a", "b", "c"):
        model_row(runtime, device, metric, trained=NOW - 48 * HOUR)
    github.fail("403-rate", method="GET")
    monitor = github_monitor(runtime, clock, github, escalation_max_wait_s=10)
    report = monitor.scan(NOW)
    assert (report.escalated, report.escalation_failures) == (0, 1)
    assert github.requests == [("GET", "/search/issues")]  # the other two were not tried
    assert failures(runtime, "github") == 1
    assert clock.slept == []

    clock.now += 60  # past the reset
    report = monitor.scan(NOW + HOUR)
    assert (report.escalated, len(github.issues)) == (3, 3)


def test_a_refused_token_fails_without_retries_and_the_scan_goes_on(
    runtime: Runtime, clock: FakeClock, github: FakeGitHub
) -> None:
    model = dead_model(runtime)
    monitor = github_monitor(runtime, clock, github, github_token="ghp_wrong")
    report = monitor.scan(NOW)
    assert (report.opened, report.escalated, report.escalation_failures) == (1, 0, 1)
    assert github.requests == [("GET", "/search/issues")] and clock.slept == []
    state = escalation(runtime, findings(runtime)[str(model)].id, "github")
    assert state is not None and (state.state, state.attempts) == ("pending", 1)
    assert state.last_error == "github GET /search/issues: HTTP 401"
    assert "ghp_wrong" not in state.last_error

    github_monitor(runtime, clock, github).scan(NOW + HOUR)  # token fixed
    state = escalation(runtime, findings(runtime)[str(model)].id, "github")
    assert state is not None and (state.state, state.attempts, state.ref) == ("open", 0, "1")


def test_a_deleted_issue_is_filed_anew_when_the_finding_recurs(
    runtime: Runtime, clock: FakeClock, github: FakeGitHub
) -> None:
    model = dead_model(runtime)
    monitor = github_monitor(runtime, clock, github)
    monitor.scan(NOW)
    set_used(runtime, model, NOW + HOUR)
    monitor.scan(NOW + 2 * HOUR)
    github.issues.pop(1)  # someone deleted it
    set_used(runtime, model, NOW - 30 * HOUR)
    monitor.scan(NOW + 3 * HOUR)
    assert list(github.issues) == [2] and github.issues[2]["state"] == "open"
    state = escalation(runtime, findings(runtime)[str(model)].id, "github")
    assert state is not None and state.ref == "2"
