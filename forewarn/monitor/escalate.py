"""Bring every channel in line with the findings: announce the open, close the resolved.

The desired state is derived from the table, not remembered from the scan: a finding open
in the table but not open on a channel is announced, one resolved in the table but still
open on a channel is closed. A failed delivery therefore needs no queue — the next scan
sees the same difference and tries again — and a flapping finding never stacks events.
Each delivery is committed at once, so an issue filed is never forgotten by a crash later
in the scan.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from forewarn.db.models import HealthEscalation, HealthFinding
from forewarn.errors import EscalationError, EscalationPausedError
from forewarn.escalation.base import Channel, Event, EventKind
from forewarn.monitor.findings import OPEN, RESOLVED
from forewarn.observability.metrics import Metrics

_LOGGER = logging.getLogger(__name__)
CLOSED, PENDING = "closed", "pending"
Work = tuple[HealthFinding, HealthEscalation | None]


@dataclass(frozen=True)
class Tally:
    """Deliveries of one escalation pass."""

    delivered: int = 0
    failed: int = 0


def pending(session: Session, channel: str, limit: int) -> list[Work]:
    """Up to `limit` findings whose state on `channel` differs from the table's:
    resolutions first, then openings; fewest failed attempts first."""
    on_channel = and_(
        HealthEscalation.finding_id == HealthFinding.id, HealthEscalation.channel == channel
    )
    closing = (
        select(HealthFinding, HealthEscalation)
        .join(HealthEscalation, on_channel)
        .where(HealthFinding.status == RESOLVED, HealthEscalation.state == OPEN)
        .order_by(HealthEscalation.attempts, HealthFinding.resolved_at, HealthFinding.id)
        .limit(limit)
    )
    work: list[Work] = [(f, e) for f, e in session.execute(closing)]
    opening = (
        select(HealthFinding, HealthEscalation)
        .outerjoin(HealthEscalation, on_channel)
        .where(
            HealthFinding.status == OPEN,
            or_(HealthEscalation.state.is_(None), HealthEscalation.state != OPEN),
        )
        .order_by(
            func.coalesce(HealthEscalation.attempts, 0), HealthFinding.first_seen, HealthFinding.id
        )
        .limit(limit - len(work))
    )
    if len(work) < limit:
        work += [(f, e) for f, e in session.execute(opening)]
    return work


def event_for(finding: HealthFinding, escalation: HealthEscalation | None) -> Event:
    """The event a channel must see to match the finding's status."""
    return Event(
        kind=EventKind.OPENED if finding.status == OPEN else EventKind.RESOLVED,
        fingerprint=finding.fingerprint,
        check=finding.check_name,
        subject=finding.subject,
        title=finding.title,
        labels=tuple(finding.labels),
        first_seen=finding.first_seen,
        opened_at=finding.opened_at,
        occurrences=finding.occurrences,
        details=finding.details,
        resolved_at=finding.resolved_at,
        ref=escalation.ref if escalation else None,
    )


def escalate(
    sessions: sessionmaker[Session],
    channels: Sequence[Channel],
    *,
    limit: int,
    metrics: Metrics,
    now: datetime,
) -> Tally:
    """Deliver up to `limit` pending events per channel; failures are counted, not raised."""
    total = Tally()
    for channel in channels:
        tally = _escalate_channel(sessions, channel, limit, now)
        if tally.failed:
            metrics.escalation_failures.labels(channel=channel.name).inc(tally.failed)
        total = Tally(total.delivered + tally.delivered, total.failed + tally.failed)
    return total


def _escalate_channel(
    sessions: sessionmaker[Session], channel: Channel, limit: int, now: datetime
) -> Tally:
    delivered = failed = 0
    with sessions() as session:
        for finding, escalation in pending(session, channel.name, limit):
            try:
                _deliver(session, channel, finding, escalation, now)
            except EscalationPausedError:
                failed += 1
                break  # rate-limited for long: the rest waits for the next scan
            except Exception:  # a broken channel must not stop the scan
                failed += 1
                continue
            delivered += 1
    return Tally(delivered, failed)


def _deliver(
    session: Session,
    channel: Channel,
    finding: HealthFinding,
    escalation: HealthEscalation | None,
    now: datetime,
) -> None:
    """Deliver one event and commit its outcome; a failure is recorded, then re-raised."""
    event = event_for(finding, escalation)
    row = escalation or _new_row(session, finding, channel.name)
    row.updated_at = now
    try:
        ref = channel.deliver(event)
    except Exception as err:
        row.attempts += 1
        row.last_error = str(err)[:500]
        session.commit()
        if isinstance(err, EscalationError):
            _LOGGER.warning("escalation to %s failed: %s", channel.name, err)
        else:
            _LOGGER.exception("escalation to %s failed unexpectedly", channel.name)
        raise
    row.state = OPEN if event.kind is EventKind.OPENED else CLOSED
    row.ref = ref if ref is not None else row.ref
    row.attempts, row.last_error = 0, None
    session.commit()


def _new_row(session: Session, finding: HealthFinding, channel: str) -> HealthEscalation:
    row = HealthEscalation(finding_id=finding.id, channel=channel, state=PENDING, attempts=0)
    session.add(row)
    return row
