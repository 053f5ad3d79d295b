"""The in-process scheduler runs due jobs, survives a failing one, and stops."""

from __future__ import annotations

import threading

import pytest

from forewarn.scheduling.jobs import Job, Scheduler, every


def test_due_jobs_run_and_a_failure_does_not_stop_them() -> None:
    runs: list[str] = []
    done = threading.Event()

    def flaky() -> None:
        runs.append("flaky")
        if runs.count("flaky") == 1:
            raise RuntimeError("first run fails")

    def steady() -> None:
        runs.append("steady")
        if runs.count("steady") >= 3 and runs.count("flaky") >= 2:
            done.set()

    scheduler = Scheduler()
    scheduler.add(Job("flaky", flaky, every(0.001)))
    scheduler.add(Job("steady", steady, every(0.001)))
    assert scheduler.jobs == ["flaky", "steady"]
    scheduler.start()
    try:
        assert done.wait(10), runs
    finally:
        scheduler.stop()
    after_stop = len(runs)
    threading.Event().wait(0.05)
    assert len(runs) == after_stop  # stopped means no more runs


@pytest.mark.slow
def test_a_job_is_not_run_before_it_is_due() -> None:
    now = [1000.0]
    ran = threading.Event()
    scheduler = Scheduler(clock=lambda: now[0])
    scheduler.add(Job("later", ran.set, lambda t: t + 3600))
    scheduler.start()
    try:
        assert not ran.wait(0.2)
        now[0] += 3600
        assert ran.wait(5)
    finally:
        scheduler.stop()
