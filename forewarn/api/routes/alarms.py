"""Alarms: everyone reads them; operators acknowledge, clear, assign and comment."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from forewarn.alerting import actions
from forewarn.alerting.actions import AlarmFilter
from forewarn.api.deps import AnyUser, CurrentUser, Operator, SessionDep
from forewarn.api.routes.telemetry import QueryTime
from forewarn.db.models import AlarmAuditRow, AlarmRow
from forewarn.db.types import ms_to_datetime
from forewarn.schemas.alarms import (
    AlarmAssign,
    AlarmCommentCreate,
    AlarmDetail,
    AlarmPage,
    AlarmPublic,
    AlarmSeverity,
    AlarmStatus,
    AuditEntryPublic,
)

router = APIRouter(prefix="/alarms", tags=["alarms"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown alarm"}}
REFUSED: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    422: {"description": "Not allowed in the alarm's status, or bad body"},
}


@router.get("", response_model=AlarmPage, dependencies=[AnyUser], summary="List alarms")
def list_alarms(
    session: SessionDep,
    status: AlarmStatus | None = None,
    severity: AlarmSeverity | None = None,
    device_id: uuid.UUID | None = None,
    since: Annotated[QueryTime, Query(description="Started at or after (epoch ms / ISO)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AlarmPage:
    """Alarms, latest start first, with the total count matching the filters."""
    flt = AlarmFilter(
        status=None if status is None else status.value,
        severity=None if severity is None else severity.value,
        device_id=device_id,
        since_ms=since,
    )
    rows, total = actions.list_alarms(session, flt, limit, offset)
    return AlarmPage(data=[_public(row) for row in rows], count=total, limit=limit, offset=offset)


@router.get(
    "/{alarm_id}",
    response_model=AlarmDetail,
    dependencies=[AnyUser],
    summary="An alarm and its audit trail",
    responses=NOT_FOUND,
)
def get_alarm(alarm_id: uuid.UUID, session: SessionDep) -> AlarmDetail:
    """The alarm with every step of its history, oldest first."""
    row, trail = actions.alarm_with_audit(session, alarm_id)
    return AlarmDetail(**_public(row).model_dump(), audit=[_entry(e) for e in trail])


@router.post(
    "/{alarm_id}/ack",
    response_model=AlarmPublic,
    dependencies=[Operator],
    summary="Acknowledge an alarm",
    responses=REFUSED,
)
def ack_alarm(alarm_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> AlarmPublic:
    """ACTIVE_UNACK → ACTIVE_ACK, CLEARED_UNACK → CLEARED_ACK; 422 (`status`) otherwise."""
    return _public(actions.acknowledge(session, alarm_id, str(user.id)))


@router.post(
    "/{alarm_id}/clear",
    response_model=AlarmPublic,
    dependencies=[Operator],
    summary="Clear an alarm by hand",
    responses=REFUSED,
)
def clear_alarm(alarm_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> AlarmPublic:
    """ACTIVE_UNACK → CLEARED_UNACK, ACTIVE_ACK → CLEARED_ACK; 422 (`status`) otherwise."""
    return _public(actions.clear(session, alarm_id, str(user.id)))


@router.post(
    "/{alarm_id}/assign",
    response_model=AlarmPublic,
    dependencies=[Operator],
    summary="Assign an alarm",
    responses=REFUSED,
)
def assign_alarm(
    alarm_id: uuid.UUID, body: AlarmAssign, session: SessionDep, user: CurrentUser
) -> AlarmPublic:
    """Give the alarm to someone (null takes it back); a closed alarm is not reassigned."""
    return _public(actions.assign(session, alarm_id, body.assignee, str(user.id)))


@router.post(
    "/{alarm_id}/comments",
    response_model=AlarmDetail,
    dependencies=[Operator],
    summary="Comment on an alarm",
    responses=REFUSED,
)
def comment_alarm(
    alarm_id: uuid.UUID, body: AlarmCommentCreate, session: SessionDep, user: CurrentUser
) -> AlarmDetail:
    """Add a note to the alarm's audit trail; the alarm with its trail."""
    actions.comment(session, alarm_id, body.text, str(user.id))
    return get_alarm(alarm_id, session)


def _public(row: AlarmRow) -> AlarmPublic:
    def at(ms: int | None) -> object:
        return None if ms is None else ms_to_datetime(ms)

    return AlarmPublic.model_validate(
        {
            "id": row.id, "originator": row.originator, "device_id": row.device_id,
            "metric_name": row.metric_name, "rule_id": row.rule_id, "severity": row.severity,
            "status": row.status, "start_ts": at(row.start_ts), "end_ts": at(row.end_ts),
            "ack_ts": at(row.ack_ts), "clear_ts": at(row.clear_ts), "assignee": row.assignee,
            "repeats": row.repeats, "last_value": row.last_value, "event_id": row.event_id,
        }
    )  # fmt: skip


def _entry(row: AlarmAuditRow) -> AuditEntryPublic:
    return AuditEntryPublic(
        actor=row.actor, action=row.action, at=ms_to_datetime(row.at_ts), field=row.field,
        before=row.before, after=row.after,
    )  # fmt: skip
