"""The webhook channel, failing channels, and the per-scan delivery budget."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from forewarn.cli.common import configure_logging
from forewarn.escalation.base import Event
from forewarn.escalation.channels import build_channels
from forewarn.monitor.scan import HealthMonitor
from forewarn.runtime import Runtime
from forewarn.runtime.container import channel_config, scan_policy
from tests.factories import NOW, make_device, model_row
from tests.monitor.fakes import FakeClock, FakeGitHub, FakeWebhook
from tests.monitor.helpers import (
    escalation,
    failures,
    findings,
    github_settings,
    make_monitor,
    monitor_settings,
    set_used,
)
from tests.support import free_port

HOUR = timedelta(hours=1)


def test_opened_and_resolved_findings_are_posted_as_json(
    runtime: Runtime, clock: FakeClock, webhook: FakeWebhook
) -> None:
    device = make_device(runtime)
    model = model_row(runtime, device, trained=NOW - 48 * HOUR, used=NOW - 30 * HOUR)
    monitor = make_monitor(runtime, clock, escalation_webhook_url=f"{webhook.url}/hooks/ml")
    monitor.scan(NOW)
    set_used(runtime, model, NOW + HOUR)
    monitor.scan(NOW + 2 * HOUR)

    opened, resolved = webhook.events
    fingerprint = findings(runtime)[str(model)].fingerprint
    assert opened == {
        "source": "forewarn",
        "event": "opened",
        "fingerprint": fingerprint,
        "check": "inactive",
        "subject": str(model),
        "title": "Model temperature v1 of Pump 7 is inactive, may be dead",
        "labels": ["ml", "ml-monitoring"],
        "details": opened["details"],
        "first_seen": NOW.isoformat(),
        "opened_at": NOW.isoformat(),
        "resolved_at": None,
        "occurrences": 1,
    }
    assert opened["details"]["idle_hours"] == 30.0
    assert (resolved["event"], resolved["fingerprint"]) == ("resolved", fingerprint)
    assert resolved["resolved_at"] == (NOW + 2 * HOUR).isoformat()
    assert webhook.requests == [("POST", "/hooks/ml")] * 2


@pytest.mark.slow
def test_a_failed_post_is_retried_after_a_backoff(
    runtime: Runtime, clock: FakeClock, webhook: FakeWebhook
) -> None:
    model_row(runtime, make_device(runtime), trained=NOW - 48 * HOUR)
    webhook.fail("500")
    webhook.fail("timeout")
    report = make_monitor(runtime, clock, escalation_webhook_url=webhook.url).scan(NOW)
    assert (report.escalated, report.escalation_failures) == (1, 0)
    assert clock.slept == [1.0, 2.0]
    assert len(webhook.requests) == 3
    # The timed-out POST was received too: a webhook is at-least-once.
    assert [e["event"] for e in webhook.events] == ["opened", "opened"]


def test_an_unreachable_webhook_is_retried_and_its_error_hides_the_url(
    runtime: Runtime, clock: FakeClock
) -> None:
    model_row(runtime, make_device(runtime), trained=NOW - 48 * HOUR)
    url = f"http://127.0.0.1:{free_port()}/hooks/s3cr3t"  # nothing listens there
    monitor = make_monitor(runtime, clock, escalation_webhook_url=url, escalation_retries=2)
    report = monitor.scan(NOW)
    assert (report.escalated, report.escalation_failures) == (0, 1)
    assert clock.slept == [1.0, 2.0]
    (finding,) = findings(runtime).values()
    state = escalation(runtime, finding.id, "webhook")
    assert state is not None and state.last_error is not None
    assert state.last_error.startswith("webhook POST /: ")
    assert "s3cr3t" not in state.last_error and "127.0.0.1" not in state.last_error


def test_no_log_line_shows_the_webhook_url(
    runtime: Runtime, clock: FakeClock, webhook: FakeWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    """The CLI's logging keeps httpx's request lines (full URL) out; retries name the path."""
    configure_logging()
    model_row(runtime, make_device(runtime), trained=NOW - 48 * HOUR)
    webhook.fail("500")
    monitor = make_monitor(runtime, clock, escalation_webhook_url=f"{webhook.url}/hooks/s3cr3t")
    with caplog.at_level(logging.DEBUG):
        assert monitor.scan(NOW).escalated == 1
    assert "webhook POST /: HTTP 500; retrying in 1.0 s" in caplog.messages
    assert not [line for line in caplog.messages if "s3cr3t" in line]


def test_a_channel_that_always_fails_is_counted_and_the_others_still_deliver(
    runtime: Runtime, clock: FakeClock, webhook: FakeWebhook, github: FakeGitHub
) -> None:
    device = make_device(runtime)
    for metric in ("a", "b"):
        model_row(runtime, device, metric, trained=NOW - 48 * HOUR)
    webhook.always_fail = True
    overrides = github_settings(github, escalation_webhook_url=webhook.url, escalation_retries=1)
    monitor = make_monitor(runtime, clock, **overrides)
    report = monitor.scan(NOW)
    assert (report.opened, report.escalated, report.escalation_failures) == (2, 2, 2)
    assert len(github.issues) == 2
    assert failures(runtime, "webhook") == 2 and failures(runtime, "github") == 0
    for finding in findings(runtime).values():
        state = escalation(runtime, finding.id, "webhook")
        assert state is not None and (state.state, state.attempts) == ("pending", 1)
        assert state.last_error == "webhook POST /: HTTP 500"

    webhook.always_fail = False
    report = monitor.scan(NOW + HOUR)
    assert (report.escalated, report.escalation_failures) == (2, 0)
    assert len(webhook.events) == 2 and len(github.issues) == 2


class BrokenChannel:
    """A plug-in channel with a bug: it raises something that is not an EscalationError."""

    name = "broken"

    def deliver(self, event: Event) -> str | None:
        """Fail."""
        raise KeyError(event.fingerprint)


@pytest.mark.slow
def test_a_broken_plugin_channel_does_not_stop_the_scan(
    runtime: Runtime, clock: FakeClock, webhook: FakeWebhook
) -> None:
    model_row(runtime, make_device(runtime), trained=NOW - 48 * HOUR)
    settings = monitor_settings(runtime, escalation_webhook_url=webhook.url)
    channels = [
        BrokenChannel(),
        *build_channels(channel_config(settings), sleep=clock.sleep, clock=clock.time),
    ]
    monitor = HealthMonitor(
        policy=scan_policy(settings),
        engine=runtime.engine,
        sessions=runtime.sessions,
        usage=runtime.usage,
        metrics=runtime.metrics,
        channels=channels,
    )
    report = monitor.scan(NOW)
    assert (report.escalated, report.escalation_failures) == (1, 1)
    assert failures(runtime, "broken") == 1 and len(webhook.events) == 1


def test_deliveries_per_scan_are_capped_and_the_rest_follow_later(
    runtime: Runtime, clock: FakeClock, webhook: FakeWebhook
) -> None:
    device = make_device(runtime)
    for metric in "abcde":
        model_row(runtime, device, metric, trained=NOW - 48 * HOUR)
    monitor = make_monitor(
        runtime, clock, escalation_webhook_url=webhook.url, escalation_max_per_scan=2
    )
    delivered = [monitor.scan(NOW + i * HOUR).escalated for i in range(4)]
    assert delivered == [2, 2, 1, 0]
    assert sorted(e["subject"] for e in webhook.events) == sorted(findings(runtime))
