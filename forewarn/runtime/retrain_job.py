"""The scheduled retraining job: each run retrains the due series (`lifecycle.due`).

A run stops after `retrain_budget_s`; the series left over are picked up a second later, so
other jobs on the same scheduler thread are not held up for long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from forewarn.lifecycle.due import due_models
from forewarn.lifecycle.retrain import Outcome, Retrainer, retrain_series
from forewarn.runtime.container import Runtime
from forewarn.scheduling.jobs import Job

_LOGGER = logging.getLogger(__name__)
JOB_NAME = "retrain"
BACKLOG_DELAY_S = 1.0


@dataclass
class RetrainJob:
    """The scheduled retraining: each run retrains the due series within a time budget."""

    retrainer: Retrainer
    schedule: str  # the global cron expression, for models without their own
    budget_s: float
    check_interval_s: float
    clock: Callable[[], float] = time.time
    backlog: bool = False
    last: list[Outcome] = field(default_factory=list)

    def run(self) -> list[Outcome]:
        """Retrain due series until none is left or the budget is spent."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        with self.retrainer.sessions() as session:
            due = due_models(session, self.schedule, now)
        deadline = time.monotonic() + self.budget_s
        outcomes: list[Outcome] = []
        for model_id in due:
            if time.monotonic() > deadline:
                break
            outcomes.append(retrain_series(self.retrainer, model_id, now=now))
        self.backlog = len(outcomes) < len(due)
        self.last = outcomes
        if due:
            promoted = sum(o.promoted for o in outcomes)
            _LOGGER.info("retraining: %s of %s due, %s promoted", len(outcomes), len(due), promoted)
        return outcomes

    def next_due(self, now: float) -> float:
        """Soon while series are left over, else after the check interval."""
        wait = BACKLOG_DELAY_S if self.backlog else self.check_interval_s
        return now + wait


def retraining_job(runtime: Runtime, clock: Callable[[], float] = time.time) -> RetrainJob:
    """The retraining job of this runtime, with its schedule and budget from the settings."""
    settings = runtime.settings
    return RetrainJob(
        retrainer=runtime.retrainer,
        schedule=runtime.retrain_schedule,
        budget_s=settings.retrain_budget_s,
        check_interval_s=settings.retrain_check_interval_s,
        clock=clock,
    )


def register_retraining_job(runtime: Runtime) -> RetrainJob | None:
    """Add the retraining job to the runtime's scheduler (unless retraining is disabled)."""
    if not runtime.settings.retrain_enabled:
        return None
    job = retraining_job(runtime)
    runtime.jobs.add(Job(JOB_NAME, job.run, job.next_due))
    return job
