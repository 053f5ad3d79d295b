"""The alarm lifecycle (ISA-18.2 / ThingsBoard): statuses, severities, the `Alarm` value and
the pure transitions that move it, each returning the new alarm and an audit entry.

```
ACTIVE_UNACK ──ack──▶ ACTIVE_ACK
     │                    │
   clear                clear
     ▼                    ▼
CLEARED_UNACK ──ack──▶ CLEARED_ACK   (closed: nothing moves it any more)
```

An alarm is *open* while it is active; one open alarm per (originator, rule): a raise while
one is open is a repeat. Times are milliseconds since the epoch and always passed in.

>>> alarm, entry = raise_alarm("s1", "hot", Severity.MINOR, now=0, value=81.0)
>>> alarm, entry = repeat(alarm, Severity.MAJOR, now=60_000, value=90.0)
>>> (alarm.severity.name, alarm.repeats, entry.before, entry.after)
('MAJOR', 1, 'MINOR', 'MAJOR')
>>> alarm, _ = acknowledge(alarm, actor="ann", now=120_000)
>>> clear(alarm, actor="system", now=180_000)[0].status.name
'CLEARED_ACK'
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum, IntEnum

from forewarn.errors import InvalidInputError

SYSTEM = "system"  # the actor of transitions the rules make, not a person


class Status(Enum):
    """Where an alarm is in its lifecycle."""

    ACTIVE_UNACK = "ACTIVE_UNACK"
    ACTIVE_ACK = "ACTIVE_ACK"
    CLEARED_UNACK = "CLEARED_UNACK"
    CLEARED_ACK = "CLEARED_ACK"


class Severity(IntEnum):
    """How bad an alarm is; ordered, so `max` gives the worse."""

    INDETERMINATE = 0
    WARNING = 1
    MINOR = 2
    MAJOR = 3
    CRITICAL = 4


# The lifecycle as two tables: which status each action leads from and to.
ACKNOWLEDGED = {Status.ACTIVE_UNACK: Status.ACTIVE_ACK, Status.CLEARED_UNACK: Status.CLEARED_ACK}
CLEARED = {Status.ACTIVE_UNACK: Status.CLEARED_UNACK, Status.ACTIVE_ACK: Status.CLEARED_ACK}


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm of a rule on an originator (a series or device key), as an immutable value."""

    originator: str
    rule_id: str
    severity: Severity
    status: Status
    start_ms: int
    end_ms: int  # the last time the condition was seen (start, or the latest repeat)
    ack_ms: int | None = None
    clear_ms: int | None = None
    assignee: str | None = None
    repeats: int = 0
    last_value: float | None = None
    event_id: str | None = None

    @property
    def active(self) -> bool:
        """Whether the condition still holds (the alarm is open)."""
        return self.status in (Status.ACTIVE_UNACK, Status.ACTIVE_ACK)

    @property
    def acknowledged(self) -> bool:
        """Whether someone has acknowledged it."""
        return self.status in (Status.ACTIVE_ACK, Status.CLEARED_ACK)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what to an alarm, when, and the field's value before and after."""

    actor: str
    action: str
    at_ms: int
    field: str
    before: str | None
    after: str | None


Transition = tuple[Alarm, AuditEntry]


def raise_alarm(
    originator: str,
    rule_id: str,
    severity: Severity,
    *,
    now: int,
    value: float | None = None,
    event_id: str | None = None,
    actor: str = SYSTEM,
) -> Transition:
    """A new open alarm, ACTIVE_UNACK from `now`."""
    for field, text in (("originator", originator), ("rule_id", rule_id)):
        if not text:
            raise InvalidInputError((field,), f"{field} must not be empty")
    alarm = Alarm(
        originator=originator, rule_id=rule_id, severity=severity, status=Status.ACTIVE_UNACK,
        start_ms=now, end_ms=now, last_value=value, event_id=event_id,
    )  # fmt: skip
    return alarm, AuditEntry(actor, "raise", now, "status", None, alarm.status.name)


def repeat(
    alarm: Alarm,
    severity: Severity,
    *,
    now: int,
    value: float | None = None,
    actor: str = SYSTEM,
) -> Transition:
    """The open alarm's condition fired again: count it; the severity only ever rises."""
    _require(alarm.active, "status", f"cannot repeat a {alarm.status.name} alarm")
    _not_before(alarm, now)
    worse = max(alarm.severity, severity)
    new = replace(alarm, severity=worse, end_ms=now, repeats=alarm.repeats + 1, last_value=value)
    return new, AuditEntry(actor, "repeat", now, "severity", alarm.severity.name, worse.name)


def raise_or_repeat(
    open_alarm: Alarm | None,
    originator: str,
    rule_id: str,
    severity: Severity,
    *,
    now: int,
    value: float | None = None,
    event_id: str | None = None,
) -> Transition:
    """A raise that keeps one open alarm per (originator, rule): a repeat if one is open."""
    if open_alarm is None or not open_alarm.active:
        return raise_alarm(originator, rule_id, severity, now=now, value=value, event_id=event_id)
    if (open_alarm.originator, open_alarm.rule_id) != (originator, rule_id):
        raise InvalidInputError(("open_alarm",), "the open alarm is of another originator or rule")
    return repeat(open_alarm, severity, now=now, value=value)


def acknowledge(alarm: Alarm, *, actor: str, now: int) -> Transition:
    """Someone has seen it: ACTIVE_UNACK → ACTIVE_ACK, CLEARED_UNACK → CLEARED_ACK."""
    return _move(alarm, ACKNOWLEDGED, "acknowledge", actor, now)


def clear(alarm: Alarm, *, actor: str = SYSTEM, now: int) -> Transition:
    """The condition is over: ACTIVE_UNACK → CLEARED_UNACK, ACTIVE_ACK → CLEARED_ACK."""
    return _move(alarm, CLEARED, "clear", actor, now)


def assign(alarm: Alarm, assignee: str | None, *, actor: str, now: int) -> Transition:
    """Give the alarm to `assignee` (None takes it back); a closed alarm is not reassigned."""
    _require(alarm.status is not Status.CLEARED_ACK, "status", "cannot assign a closed alarm")
    _require(assignee is None or bool(assignee.strip()), "assignee", "assignee must not be blank")
    _not_before(alarm, now)
    new = replace(alarm, assignee=assignee)
    return new, AuditEntry(actor, "assign", now, "assignee", alarm.assignee, assignee)


def comment(alarm: Alarm, text: str, *, actor: str, now: int) -> Transition:
    """A note on the alarm; the alarm itself does not change, the audit entry holds the text."""
    _require(bool(text.strip()), "comment", "a comment must not be blank")
    _not_before(alarm, now)
    return alarm, AuditEntry(actor, "comment", now, "comment", None, text)


def _move(
    alarm: Alarm, table: dict[Status, Status], action: str, actor: str, now: int
) -> Transition:
    """One step of the lifecycle, refused when the table has no step from the status."""
    target = table.get(alarm.status)
    if target is None:
        raise InvalidInputError(("status",), f"cannot {action} a {alarm.status.name} alarm")
    _not_before(alarm, now)
    if table is ACKNOWLEDGED:
        new = replace(alarm, status=target, ack_ms=now)
    else:
        new = replace(alarm, status=target, clear_ms=now)
    return new, AuditEntry(actor, action, now, "status", alarm.status.name, target.name)


def _not_before(alarm: Alarm, now: int) -> None:
    """Refuse a time before the alarm's start: the caller's clock or order is wrong."""
    _require(now >= alarm.start_ms, "now", f"{now} is before the alarm's start {alarm.start_ms}")


def _require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise InvalidInputError((field,), message)
