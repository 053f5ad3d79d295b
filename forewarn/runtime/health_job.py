"""The periodic health scan inside `forewarn serve`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from forewarn.scheduling.jobs import Job, NextDue

if TYPE_CHECKING:
    from forewarn.runtime import Runtime

JOB_NAME = "model-health-scan"
FIRST_SCAN_DELAY_S = 10.0  # soon after start-up, so the gauges are filled early


def first_soon_then_every(interval_s: float) -> NextDue:
    """A schedule whose first run comes after at most FIRST_SCAN_DELAY_S, then every interval."""
    started: list[bool] = []

    def next_due(now: float) -> float:
        """The first run soon, then one every interval."""
        if not started:
            started.append(True)
            return now + min(interval_s, FIRST_SCAN_DELAY_S)
        return now + interval_s

    return next_due


def register_monitor_job(runtime: Runtime) -> Job:
    """Add the scan every FOREWARN_MONITOR_INTERVAL_S seconds to the runtime's jobs."""
    job = Job(
        JOB_NAME,
        runtime.monitor.run_scheduled,
        first_soon_then_every(runtime.settings.monitor_interval_s),
    )
    runtime.jobs.add(job)
    return job
