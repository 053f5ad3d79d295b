"""The scan runner: finding lifecycle, metrics, usage flushing, restarts, one scan at a time."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from forewarn.db.models import HealthEscalation, HealthFinding, HealthScan
from forewarn.errors import ConflictError
from forewarn.monitor.lock import scan_lock
from forewarn.runtime import Runtime
from forewarn.runtime.health_job import JOB_NAME, first_soon_then_every, register_monitor_job
from forewarn.scheduling.jobs import Job, Scheduler
from tests.factories import NOW, make_device, model_row
from tests.monitor.fakes import FakeClock, FakeWebhook
from tests.monitor.helpers import findings, make_monitor, set_used

HOUR = timedelta(hours=1)


def gauge(runtime: Runtime, name: str, **labels: str) -> float | None:
    """A metric's current value from the runtime's registry."""
    return runtime.metrics.registry.get_sample_value(name, labels or None)


def test_a_finding_opens_resolves_and_reopens_under_one_fingerprint(
    runtime: Runtime, clock: FakeClock
) -> None:
    device = make_device(runtime)
    model = model_row(runtime, device, trained=NOW - 48 * HOUR, used=NOW - 30 * HOUR)
    monitor = make_monitor(runtime, clock)

    first = monitor.scan(NOW)
    assert (first.opened, first.resolved, first.open_by_check["inactive"]) == (1, 0, 1)
    opened = findings(runtime)[str(model)]
    assert (opened.status, opened.occurrences, opened.first_seen, opened.opened_at) == (
        "open",
        1,
        NOW,
        NOW,
    )

    again = monitor.scan(NOW + HOUR)
    assert (again.opened, again.resolved) == (0, 0)
    assert findings(runtime)[str(model)].opened_at == NOW  # still open, not rewritten

    set_used(runtime, model, NOW + HOUR)
    cleared = monitor.scan(NOW + 2 * HOUR)
    assert (cleared.opened, cleared.resolved, cleared.findings_open) == (0, 1, 0)
    resolved = findings(runtime)[str(model)]
    assert (resolved.status, resolved.resolved_at) == ("resolved", NOW + 2 * HOUR)

    back = monitor.scan(NOW + 30 * HOUR)
    assert (back.opened, back.resolved) == (1, 0)
    reopened = findings(runtime)[str(model)]
    assert reopened.id == opened.id and reopened.fingerprint == opened.fingerprint
    assert (reopened.status, reopened.occurrences, reopened.resolved_at) == ("open", 2, None)
    assert (reopened.first_seen, reopened.opened_at) == (NOW, NOW + 30 * HOUR)


def test_metrics_count_open_findings_per_check_and_active_models(
    runtime: Runtime, clock: FakeClock
) -> None:
    device = make_device(runtime)
    model_row(runtime, device, "a", trained=NOW - 10 * 24 * HOUR, used=NOW)  # stale
    model_row(runtime, device, "b", trained=NOW - 10 * 24 * HOUR)  # stale and inactive
    model_row(runtime, device, "c", used=NOW)
    model_row(runtime, device, "c", version=0, active=False)

    report = make_monitor(runtime, clock).scan(NOW)
    assert report.open_by_check == {"stale": 2, "inactive": 1, "cleanup": 0, "storage": 0}
    assert (report.models_total, report.models_active) == (4, 3)
    assert gauge(runtime, "forewarn_active_models") == 3
    for check, count in report.open_by_check.items():
        assert gauge(runtime, "forewarn_health_findings", check=check) == count
    with runtime.sessions() as session:
        scan = session.scalars(select(HealthScan)).one()
    assert (scan.started_at, scan.findings_open, scan.opened) == (NOW, 3, 3)


def test_usage_waiting_in_memory_is_flushed_before_the_checks(
    runtime: Runtime, clock: FakeClock
) -> None:
    device = make_device(runtime)
    model = model_row(runtime, device, trained=NOW - 48 * HOUR)
    monitor = make_monitor(runtime, clock)
    monitor.scan(NOW)
    assert findings(runtime)[str(model)].status == "open"

    runtime.usage.record(model, predictions=3, anomalies=0, at=NOW)  # not yet in the table
    monitor.scan(NOW + HOUR)
    assert findings(runtime)[str(model)].status == "resolved"


def test_a_restarted_monitor_does_not_announce_open_findings_again(
    runtime: Runtime, clock: FakeClock, webhook: FakeWebhook
) -> None:
    device = make_device(runtime)
    model_row(runtime, device, trained=NOW - 48 * HOUR)
    make_monitor(runtime, clock, escalation_webhook_url=webhook.url).scan(NOW)
    assert [e["event"] for e in webhook.events] == ["opened"]

    restarted = make_monitor(runtime, clock, escalation_webhook_url=webhook.url)
    report = restarted.scan(NOW + HOUR)
    assert (report.opened, report.escalated) == (0, 0)
    assert [e["event"] for e in webhook.events] == ["opened"]


def test_resolved_findings_are_forgotten_after_the_retention(
    runtime: Runtime, clock: FakeClock
) -> None:
    device = make_device(runtime)
    model = model_row(runtime, device, trained=NOW - 48 * HOUR)
    # With the log channel on, the finding has an escalation row that must go with it.
    monitor = make_monitor(runtime, clock, monitor_retention_days=2, escalation_log=True)
    monitor.scan(NOW)
    set_used(runtime, model, NOW + HOUR)
    monitor.scan(NOW + HOUR)
    monitor.scan(NOW + 24 * HOUR)
    assert findings(runtime)[str(model)].status == "resolved"
    set_used(runtime, model, NOW + 49 * HOUR)  # still healthy: the finding stays resolved
    monitor.scan(NOW + 50 * HOUR)
    assert str(model) not in findings(runtime)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(HealthEscalation)) == 0
    with runtime.sessions() as session:
        scans = session.scalar(select(func.count()).select_from(HealthScan))
    assert scans == 2  # the scans older than two days went too


def test_only_one_scan_runs_at_a_time(runtime: Runtime, clock: FakeClock) -> None:
    monitor = make_monitor(runtime, clock)
    with scan_lock(runtime.engine) as taken:  # another process scanning the same database
        assert taken
        with pytest.raises(ConflictError, match="already running"):
            monitor.scan(NOW)
    assert monitor.scan(NOW).models_total == 0  # free again


def test_the_scan_lock_refuses_a_second_holder_until_the_first_lets_go(runtime: Runtime) -> None:
    """SQLite's lock file (filelock) and PostgreSQL's advisory lock: never wait, free after."""
    with scan_lock(runtime.engine) as first, scan_lock(runtime.engine) as second:
        assert (first, second) == (True, False)
    with scan_lock(runtime.engine) as again:
        assert again


def test_the_periodic_job_scans_and_skips_while_another_scan_runs(
    runtime: Runtime, clock: FakeClock
) -> None:
    model_row(runtime, make_device(runtime), trained=NOW - 48 * HOUR)
    job = register_monitor_job(runtime)
    assert JOB_NAME in runtime.jobs.jobs
    schedule = first_soon_then_every(300)
    assert schedule(1000.0) == 1010.0  # the first scan comes soon after start-up
    assert schedule(2000.0) == 2300.0

    with scan_lock(runtime.engine):
        job.run()  # skipped, not raised
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(HealthFinding)) == 0

    done = threading.Event()
    scheduler = Scheduler(clock=lambda: 0.0)
    scheduler.add(Job(job.name, lambda: (job.run(), done.set()), lambda now: now))
    scheduler.start()
    try:
        assert done.wait(10)
    finally:
        scheduler.stop()
    assert len(findings(runtime, "open")) == 1
