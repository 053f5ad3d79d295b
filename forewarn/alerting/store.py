"""Alarms and rule states in the database: rows to domain values and back, batch loads."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from forewarn.alarms.lifecycle import Alarm, AuditEntry, Severity, Status
from forewarn.alarms.state import RuleState
from forewarn.db.models import AlarmAuditRow, AlarmRow, AlarmRuleStateRow
from forewarn.errors import NotFoundError

OPEN_STATUSES = (Status.ACTIVE_UNACK.value, Status.ACTIVE_ACK.value)


def series_key(device_id: uuid.UUID, metric_name: str) -> str:
    """The originator of a series' alarms: its device and metric (a model's series)."""
    return f"{device_id}/{metric_name}"


def to_alarm(row: AlarmRow) -> Alarm:
    """The domain value of a stored alarm."""
    return Alarm(
        originator=row.originator, rule_id=row.rule_id, severity=Severity[row.severity],
        status=Status(row.status), start_ms=row.start_ts, end_ms=row.end_ts,
        ack_ms=row.ack_ts, clear_ms=row.clear_ts, assignee=row.assignee,
        repeats=row.repeats, last_value=row.last_value,
        event_id=None if row.event_id is None else str(row.event_id),
    )  # fmt: skip


def update_row(row: AlarmRow, alarm: Alarm) -> None:
    """Copy what a transition may change from the domain value onto the row."""
    row.severity, row.status = alarm.severity.name, alarm.status.value
    row.end_ts, row.ack_ts, row.clear_ts = alarm.end_ms, alarm.ack_ms, alarm.clear_ms
    row.assignee, row.repeats, row.last_value = alarm.assignee, alarm.repeats, alarm.last_value


def new_row(alarm: Alarm, device_id: uuid.UUID, metric_name: str) -> AlarmRow:
    """A row for a freshly raised alarm (with its id set, so audit rows can point at it)."""
    row = AlarmRow(
        id=uuid.uuid4(), originator=alarm.originator, device_id=device_id,
        metric_name=metric_name, rule_id=alarm.rule_id, start_ts=alarm.start_ms,
        event_id=None if alarm.event_id is None else uuid.UUID(alarm.event_id),
    )  # fmt: skip
    update_row(row, alarm)
    return row


def audit_row(alarm_id: uuid.UUID, entry: AuditEntry) -> AlarmAuditRow:
    """The stored form of one audit entry."""
    return AlarmAuditRow(
        id=uuid.uuid4(), alarm_id=alarm_id, actor=entry.actor, action=entry.action,
        at_ts=entry.at_ms, field=entry.field, before=entry.before, after=entry.after,
    )  # fmt: skip


def open_alarms(session: Session, rule_id: str, keys: Collection[str]) -> dict[str, AlarmRow]:
    """The open alarm of `rule_id` on each of the series that has one, in one query."""
    query = select(AlarmRow).where(
        AlarmRow.rule_id == rule_id,
        AlarmRow.originator.in_(list(keys)),
        AlarmRow.status.in_(OPEN_STATUSES),
    )
    return {row.originator: row for row in session.scalars(query)}


def rule_states(
    session: Session, rule_id: str, keys: Collection[str]
) -> dict[str, AlarmRuleStateRow]:
    """The stored state of `rule_id` on each of the series that has one, in one query."""
    query = select(AlarmRuleStateRow).where(
        AlarmRuleStateRow.rule_id == rule_id, AlarmRuleStateRow.series_key.in_(list(keys))
    )
    return {row.series_key: row for row in session.scalars(query)}


def save_state(
    session: Session, found: AlarmRuleStateRow | None, rule_id: str, key: str, state: RuleState
) -> AlarmRuleStateRow:
    """Store the rule's state on the series (a new row the first time); the row."""
    if found is None:
        found = AlarmRuleStateRow(rule_id=rule_id, series_key=key, state=state.to_json())
        session.add(found)
    else:
        found.state = state.to_json()
    return found


def alarm_row(session: Session, alarm_id: uuid.UUID, *, lock: bool = False) -> AlarmRow:
    """One stored alarm (locked for update when it is to change); NotFoundError if unknown."""
    query = select(AlarmRow).where(AlarmRow.id == alarm_id)
    row = session.scalars(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFoundError("alarm", alarm_id)
    return row


def audit_trail(session: Session, alarm_id: uuid.UUID) -> list[AlarmAuditRow]:
    """An alarm's audit entries, oldest first."""
    query = (
        select(AlarmAuditRow)
        .where(AlarmAuditRow.alarm_id == alarm_id)
        .order_by(AlarmAuditRow.at_ts, case((AlarmAuditRow.action == "raise", 0), else_=1))
    )
    return list(session.scalars(query))
