"""The findings store: reconcile a scan's offenders with the table, and read it back.

A finding is keyed by its fingerprint. New offenders are inserted, offenders that had
cleared are reopened (same row, so their escalations are found again), and open findings
no longer seen are resolved — in bulk statements, never one query per model.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from forewarn.db.models import HealthEscalation, HealthFinding, HealthScan
from forewarn.monitor.checks import Found

OPEN, RESOLVED = "open", "resolved"
_CHUNK = 2000  # ids per IN (...) list: well under every backend's parameter limit
T = TypeVar("T")


@dataclass(frozen=True)
class Changes:
    """What a scan changed in the table."""

    opened: int  # new, or back after clearing
    resolved: int


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def reconcile(session: Session, found: Sequence[Found], now: datetime) -> Changes:
    """Make the table say exactly `found` is open as of `now` (caller commits)."""
    current = {item.fingerprint: item for item in found}
    query = select(HealthFinding.fingerprint, HealthFinding.id).where(HealthFinding.status == OPEN)
    open_ids = {fp: fid for fp, fid in session.execute(query)}
    gone = [fid for fp, fid in open_ids.items() if fp not in current]
    fresh = [fp for fp in current if fp not in open_ids]
    known = _ids_of(session, fresh)
    _resolve(session, gone, now)
    _reopen(session, [(known[fp], current[fp]) for fp in fresh if fp in known], now)
    _insert(session, [current[fp] for fp in fresh if fp not in known], now)
    # Findings still open are not rewritten: with thousands open, an UPDATE per scan would
    # churn rows and WAL for nothing (the latest scan's time says when they were last seen).
    return Changes(opened=len(fresh), resolved=len(gone))


def _ids_of(session: Session, fingerprints: Sequence[str]) -> dict[str, uuid.UUID]:
    found: dict[str, uuid.UUID] = {}
    for chunk in _chunks(fingerprints):
        query = select(HealthFinding.fingerprint, HealthFinding.id).where(
            HealthFinding.fingerprint.in_(chunk)
        )
        found.update((fp, fid) for fp, fid in session.execute(query))
    return found


def _resolve(session: Session, ids: Sequence[uuid.UUID], now: datetime) -> None:
    for chunk in _chunks(ids):
        session.execute(
            update(HealthFinding)
            .where(HealthFinding.id.in_(chunk))
            .values(status=RESOLVED, resolved_at=now),
            execution_options={"synchronize_session": False},
        )


def _reopen(session: Session, rows: Sequence[tuple[uuid.UUID, Found]], now: datetime) -> None:
    if not rows:
        return
    statement = (
        update(HealthFinding)
        .where(HealthFinding.id == bindparam("fid"))
        .values(
            status=OPEN,
            resolved_at=None,
            opened_at=now,
            title=bindparam("new_title"),
            labels=bindparam("new_labels"),
            details=bindparam("new_details"),
            occurrences=HealthFinding.occurrences + 1,
        )
    )
    params = []
    for fid, item in rows:
        title, details = item.describe()
        params.append(
            {
                "fid": fid,
                "new_title": title,
                "new_labels": list(item.labels),
                "new_details": details,
            }
        )
    # Through the connection: an executemany UPDATE keyed by bindparam, not ORM bulk-by-PK.
    session.connection().execute(statement, params)


def _insert(session: Session, items: Sequence[Found], now: datetime) -> None:
    if not items:
        return
    rows: list[dict[str, Any]] = []
    for item in items:
        title, details = item.describe()
        rows.append(
            {
                "id": uuid.uuid4(),
                "fingerprint": item.fingerprint,
                "check_name": item.check,
                "subject": item.subject,
                "title": title,
                "labels": list(item.labels),
                "details": details,
                "status": OPEN,
                "occurrences": 1,
                "first_seen": now,
                "opened_at": now,
                "resolved_at": None,
            }
        )
    session.connection().execute(insert(HealthFinding), rows)


def purge(session: Session, before: datetime) -> None:
    """Forget findings resolved before `before` (unless a channel still holds them open)
    and scans older than that."""
    held = (
        select(HealthEscalation.finding_id)
        .where(HealthEscalation.finding_id == HealthFinding.id, HealthEscalation.state == OPEN)
        .exists()
    )
    session.execute(
        delete(HealthFinding).where(
            HealthFinding.status == RESOLVED, HealthFinding.resolved_at < before, ~held
        ),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        delete(HealthScan).where(HealthScan.started_at < before),
        execution_options={"synchronize_session": False},
    )


def open_counts(session: Session) -> dict[str, int]:
    """Open findings per check (checks without any are absent)."""
    rows = session.execute(
        select(HealthFinding.check_name, func.count())
        .where(HealthFinding.status == OPEN)
        .group_by(HealthFinding.check_name)
    )
    return {name: int(count) for name, count in rows}


def list_findings(
    session: Session, status: str | None, check: str | None, limit: int, offset: int
) -> tuple[list[HealthFinding], int]:
    """A page of findings, most recently opened first, and the total."""
    query = select(HealthFinding)
    if status is not None:
        query = query.where(HealthFinding.status == status)
    if check is not None:
        query = query.where(HealthFinding.check_name == check)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(HealthFinding.opened_at.desc(), HealthFinding.fingerprint)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


def escalations_of(
    session: Session, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[HealthEscalation]]:
    """The escalation rows of some findings, by finding id."""
    found: dict[uuid.UUID, list[HealthEscalation]] = {fid: [] for fid in ids}
    for chunk in _chunks(ids):
        query = select(HealthEscalation).where(HealthEscalation.finding_id.in_(chunk))
        for row in session.scalars(query.order_by(HealthEscalation.channel)):
            found[row.finding_id].append(row)
    return found


def latest_scan(session: Session) -> HealthScan | None:
    """The most recent scan run, if any."""
    return session.scalar(select(HealthScan).order_by(HealthScan.started_at.desc()).limit(1))
