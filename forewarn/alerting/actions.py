"""What people do with alarms: list and read them, acknowledge, clear, assign, comment.

Each action is one transaction: the alarm row is locked, moved by the lifecycle function,
its audit entry added, and the session committed. Errors stay domain errors (NotFoundError,
InvalidInputError naming the field); the API maps them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from forewarn.alarms import lifecycle
from forewarn.alarms.lifecycle import Alarm, Transition
from forewarn.alerting import store
from forewarn.db.models import AlarmAuditRow, AlarmRow
from forewarn.errors import InvalidInputError

# Where a domain error's field sits in the request (the body's names, not the domain's).
BODY_FIELDS = {"assignee": ("body", "assignee"), "comment": ("body", "text")}


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    """The list's filters; None means any."""

    status: str | None = None
    severity: str | None = None
    device_id: uuid.UUID | None = None
    since_ms: int | None = None  # alarms that started at or after


def list_alarms(
    session: Session, flt: AlarmFilter, limit: int, offset: int
) -> tuple[list[AlarmRow], int]:
    """A page of alarms, latest start first, and the total matching the filters."""
    query = _filtered(select(AlarmRow), flt)
    rows = session.scalars(
        query.order_by(AlarmRow.start_ts.desc(), AlarmRow.id).limit(limit).offset(offset)
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(rows), total


def _filtered(query: Select[AlarmRow], flt: AlarmFilter) -> Select[AlarmRow]:
    if flt.status is not None:
        query = query.where(AlarmRow.status == flt.status)
    if flt.severity is not None:
        query = query.where(AlarmRow.severity == flt.severity)
    if flt.device_id is not None:
        query = query.where(AlarmRow.device_id == flt.device_id)
    if flt.since_ms is not None:
        query = query.where(AlarmRow.start_ts >= flt.since_ms)
    return query


def alarm_with_audit(session: Session, alarm_id: uuid.UUID) -> tuple[AlarmRow, list[AlarmAuditRow]]:
    """One alarm and its audit trail, oldest entry first; NotFoundError if unknown."""
    return store.alarm_row(session, alarm_id), store.audit_trail(session, alarm_id)


def acknowledge(session: Session, alarm_id: uuid.UUID, actor: str) -> AlarmRow:
    """ACTIVE_UNACK → ACTIVE_ACK, CLEARED_UNACK → CLEARED_ACK; commits."""
    return _act(session, alarm_id, lambda a, now: lifecycle.acknowledge(a, actor=actor, now=now))


def clear(session: Session, alarm_id: uuid.UUID, actor: str) -> AlarmRow:
    """Clear an active alarm by hand; commits."""
    return _act(session, alarm_id, lambda a, now: lifecycle.clear(a, actor=actor, now=now))


def assign(session: Session, alarm_id: uuid.UUID, assignee: str | None, actor: str) -> AlarmRow:
    """Give the alarm to `assignee` (None takes it back); commits."""
    return _act(
        session, alarm_id, lambda a, now: lifecycle.assign(a, assignee, actor=actor, now=now)
    )


def comment(session: Session, alarm_id: uuid.UUID, text: str, actor: str) -> AlarmRow:
    """Add a note to the alarm's audit trail; commits."""
    return _act(session, alarm_id, lambda a, now: lifecycle.comment(a, text, actor=actor, now=now))


def _act(
    session: Session, alarm_id: uuid.UUID, step: Callable[[Alarm, int], Transition]
) -> AlarmRow:
    """Lock the alarm, apply one lifecycle step at the present time, audit it, commit."""
    row = store.alarm_row(session, alarm_id, lock=True)
    # Readings may carry device times ahead of this clock: an action never predates the alarm.
    now = max(int(time.time() * 1000), row.start_ts)
    try:
        alarm, entry = step(store.to_alarm(row), now)
    except InvalidInputError as err:
        field = str(err.loc[0]) if err.loc else ""
        raise InvalidInputError(BODY_FIELDS.get(field, err.loc), err.message) from err
    store.update_row(row, alarm)
    session.add(store.audit_row(row.id, entry))
    session.commit()
    return row
