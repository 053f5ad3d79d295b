"""Which series are due for retraining, and the scheduled job that retrains them.

A series is due when its schedule (the model's own, else the global one) has fired since its
last attempt: the later of the active model's creation and its last retraining attempt
(a rejected candidate or a failure counts as an attempt, so neither is retried at once).
A run stops after `retrain_budget_s`; the series left over are picked up a second later, so
other jobs on the same scheduler thread are not held up for long.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from forewarn.db.models import MLModel
from forewarn.jobs import Job
from forewarn.lifecycle.retrain import Outcome, retrain_series
from forewarn.lifecycle.schedule import parse_cron
from forewarn.runtime import Runtime

_LOGGER = logging.getLogger(__name__)
JOB_NAME = "retrain"
BACKLOG_DELAY_S = 1.0


def last_attempt(model: MLModel) -> datetime:
    """When the series was last trained or retrained."""
    return max(model.created_at, model.retrained_at or model.created_at)


def due_models(session: Session, default_schedule: str, now: datetime) -> list[uuid.UUID]:
    """Active models whose schedule fired after their last attempt, longest waiting first."""
    fired: dict[str, datetime] = {}
    due: list[tuple[datetime, uuid.UUID]] = []
    for model in session.scalars(select(MLModel).where(MLModel.is_active.is_(True))):
        expression = model.retrain_schedule or default_schedule
        if expression not in fired:
            fired[expression] = parse_cron(expression).latest_at_or_before(now)
        attempt = last_attempt(model)
        if attempt < fired[expression]:
            due.append((attempt, model.id))
    return [model_id for _, model_id in sorted(due)]


def next_retrain_at(model: MLModel, default_schedule: str) -> datetime:
    """When the series will next be due."""
    expression = model.retrain_schedule or default_schedule
    return parse_cron(expression).next_after(last_attempt(model))


@dataclass
class RetrainJob:
    """The scheduled retraining: each run retrains the due series within a time budget."""

    runtime: Runtime
    clock: Callable[[], float] = time.time
    backlog: bool = False
    last: list[Outcome] = field(default_factory=list)

    def run(self) -> list[Outcome]:
        """Retrain due series until none is left or the budget is spent."""
        settings = self.runtime.settings
        now = datetime.fromtimestamp(self.clock(), UTC)
        with self.runtime.sessions() as session:
            due = due_models(session, settings.retrain_schedule, now)
        deadline = time.monotonic() + settings.retrain_budget_s
        outcomes: list[Outcome] = []
        for model_id in due:
            if time.monotonic() > deadline:
                break
            outcomes.append(retrain_series(self.runtime, model_id, now=now))
        self.backlog = len(outcomes) < len(due)
        self.last = outcomes
        if due:
            promoted = sum(o.promoted for o in outcomes)
            _LOGGER.info("retraining: %s of %s due, %s promoted", len(outcomes), len(due), promoted)
        return outcomes

    def next_due(self, now: float) -> float:
        """Soon while series are left over, else after the check interval."""
        wait = BACKLOG_DELAY_S if self.backlog else self.runtime.settings.retrain_check_interval_s
        return now + wait


def register_retraining_job(runtime: Runtime) -> RetrainJob | None:
    """Add the retraining job to the runtime's scheduler (unless retraining is disabled)."""
    if not runtime.settings.retrain_enabled:
        return None
    job = RetrainJob(runtime)
    runtime.jobs.add(Job(JOB_NAME, job.run, job.next_due))
    return job


def chosen_models(
    session: Session,
    *,
    device_id: uuid.UUID | None = None,
    metric_name: str | None = None,
    everything: bool = False,
) -> list[uuid.UUID]:
    """Active models of every series, of one device, or of one series, oldest attempt first."""
    query = select(MLModel).where(MLModel.is_active.is_(True))
    if device_id is not None:
        query = query.where(MLModel.device_id == device_id)
    if metric_name is not None:
        query = query.where(MLModel.metric_name == metric_name)
    if not (everything or device_id is not None):
        return []
    return [m.id for m in sorted(session.scalars(query), key=last_attempt)]
