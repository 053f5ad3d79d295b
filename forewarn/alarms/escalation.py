"""Escalation policies as a pure walk that a timer drives and a database persists.

A policy is an ordered list of levels. The walk notifies a level's targets, waits that level's
``escalation_delay_in_minutes`` and moves to the next level; after the last level it starts
again ``num_loops`` more times, then stops. Each pass (loop) starts at the alarm's starting
level: level 0, or ``critical_start_level`` for a CRITICAL alarm, which is never sent back to
the lower levels. An acknowledgement stops the walk: nothing is issued after it.

The walk is a small state machine: ``start`` makes an ``EscalationState``, ``next_steps``
returns the steps due by ``now`` that the state has not issued yet together with the state
that records them, so asking twice at the same ``now`` issues nothing twice. A timer that ran
late gets every missed step at once (each level is still told). The state is plain JSON.

>>> from datetime import datetime, UTC
>>> policy = EscalationPolicy(id="p", levels=(
...     Level(targets=(Target("user", "ana"),), escalation_delay_in_minutes=10),
...     Level(targets=(Target("schedule", "plant-a"),), escalation_delay_in_minutes=10)))
>>> state = start(policy, datetime(2026, 1, 5, 8, 0, tzinfo=UTC), severity="warning")
>>> steps, state = next_steps(policy, state, datetime(2026, 1, 5, 8, 15, tzinfo=UTC))
>>> [(s.loop, s.level, s.due_at.strftime("%H:%M")) for s in steps]
[(0, 0, '08:00'), (0, 1, '08:10')]
>>> next_steps(policy, state, datetime(2026, 1, 5, 8, 15, tzinfo=UTC))[0]
[]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from forewarn.alarms.oncall import require_aware
from forewarn.errors import InvalidInputError

TargetKind = Literal["user", "schedule", "channel"]
TARGET_KINDS = ("user", "schedule", "channel")
CRITICAL = "critical"


@dataclass(frozen=True)
class Target:
    """Whom a level notifies: a user id, an on-call schedule id or a channel id."""

    kind: TargetKind
    id: str

    def __post_init__(self) -> None:
        """Refuse an unknown kind or an empty id."""
        if self.kind not in TARGET_KINDS:
            raise InvalidInputError(("kind",), f"expected one of {TARGET_KINDS}")
        if not isinstance(self.id, str) or not self.id:
            raise InvalidInputError(("id",), "must be a non-empty id")


@dataclass(frozen=True)
class Level:
    """One rung: its targets, and how long to wait for an acknowledgement before the next."""

    targets: tuple[Target, ...]
    escalation_delay_in_minutes: int

    def __post_init__(self) -> None:
        """Refuse a level with nobody to notify or a delay under a minute."""
        if not self.targets:
            raise InvalidInputError(("targets",), "a level needs at least one target")
        delay = self.escalation_delay_in_minutes
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 1:
            raise InvalidInputError(("escalation_delay_in_minutes",), "must be at least 1")


@dataclass(frozen=True)
class EscalationPolicy:
    """Ordered levels, walked once and then `num_loops` more times; CRITICAL may start higher."""

    id: str
    levels: tuple[Level, ...]
    num_loops: int = 0
    critical_start_level: int = 0

    def __post_init__(self) -> None:
        """Refuse a policy without levels, with negative loops or a start level out of range."""
        if not self.levels:
            raise InvalidInputError(("levels",), "a policy needs at least one level")
        if isinstance(self.num_loops, bool) or not isinstance(self.num_loops, int):
            raise InvalidInputError(("num_loops",), "must be a whole number")
        if self.num_loops < 0:
            raise InvalidInputError(("num_loops",), "must not be negative")
        if not 0 <= self.critical_start_level < len(self.levels):
            raise InvalidInputError(("critical_start_level",), "must name one of the levels")

    def start_level(self, severity: str) -> int:
        """The level a walk for an alarm of `severity` starts at."""
        return self.critical_start_level if severity.lower() == CRITICAL else 0


@dataclass(frozen=True)
class Step:
    """Notify `targets` (level `level` of pass `loop`) at `due_at`."""

    loop: int
    level: int
    targets: tuple[Target, ...]
    due_at: datetime


@dataclass(frozen=True)
class EscalationState:
    """Where one alarm's walk stands: what was issued, and whether it was acknowledged."""

    policy_id: str
    started_at: datetime
    start_level: int
    issued: int = 0
    acked_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The state as JSON-ready values (instants as ISO 8601 strings)."""
        acked = None if self.acked_at is None else self.acked_at.isoformat()
        return {
            "policy_id": self.policy_id,
            "started_at": self.started_at.isoformat(),
            "start_level": self.start_level,
            "issued": self.issued,
            "acked_at": acked,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EscalationState:
        """The state back from `to_json`'s values; errors name the field."""
        acked = data.get("acked_at")
        return cls(
            policy_id=str(data.get("policy_id", "")),
            started_at=_instant(data.get("started_at"), "started_at"),
            start_level=_count(data.get("start_level"), "start_level"),
            issued=_count(data.get("issued"), "issued"),
            acked_at=None if acked is None else _instant(acked, "acked_at"),
        )


def start(policy: EscalationPolicy, alarm_started_utc: datetime, severity: str) -> EscalationState:
    """A fresh walk for an alarm that started at `alarm_started_utc`."""
    require_aware(alarm_started_utc, "alarm_started_utc")
    return EscalationState(policy.id, alarm_started_utc, policy.start_level(severity))


def acknowledge(state: EscalationState, at: datetime) -> EscalationState:
    """The state with the walk stopped at `at` (a second acknowledgement keeps the first)."""
    require_aware(at, "acked_at")
    return state if state.acked_at is not None else replace(state, acked_at=at)


def schedule_of(policy: EscalationPolicy, state: EscalationState) -> Iterator[Step]:
    """Every step of the whole walk in order, ignoring acknowledgement."""
    due = state.started_at
    for loop in range(policy.num_loops + 1):
        for index in range(state.start_level, len(policy.levels)):
            level = policy.levels[index]
            yield Step(loop, index, level.targets, due)
            due += timedelta(minutes=level.escalation_delay_in_minutes)


def next_steps(
    policy: EscalationPolicy, state: EscalationState, now: datetime
) -> tuple[list[Step], EscalationState]:
    """The steps due by `now` not issued yet, and the state that records them as issued."""
    require_aware(now, "now")
    _check_belongs(policy, state)
    if state.acked_at is not None:
        return [], state
    pending = list(schedule_of(policy, state))[state.issued :]
    due = [step for step in pending if step.due_at <= now]
    return due, replace(state, issued=state.issued + len(due))


def next_due_at(policy: EscalationPolicy, state: EscalationState) -> datetime | None:
    """When the timer should next ask `next_steps`, or None once the walk is over."""
    _check_belongs(policy, state)
    if state.acked_at is not None:
        return None
    pending = list(schedule_of(policy, state))[state.issued :]
    return pending[0].due_at if pending else None


def due_steps(
    policy: EscalationPolicy,
    alarm_started_utc: datetime,
    acked_at: datetime | None,
    now: datetime,
    severity: str = "warning",
) -> list[Step]:
    """The walk's history by `now`: every step that fell due before any acknowledgement."""
    require_aware(now, "now")
    state = start(policy, alarm_started_utc, severity)
    # A step due at the very instant of the acknowledgement is not sent: the ack came first.
    return [
        step
        for step in schedule_of(policy, state)
        if step.due_at <= now and (acked_at is None or step.due_at < acked_at)
    ]


def policy_from_dict(data: Mapping[str, Any]) -> EscalationPolicy:
    """A policy from its JSON form (docs/oncall.md); errors name the field's path."""
    levels = tuple(_level_from_dict(i, raw) for i, raw in enumerate(data.get("levels", ())))
    return EscalationPolicy(
        id=str(data.get("id", "")),
        levels=levels,
        num_loops=data.get("num_loops", 0),
        critical_start_level=data.get("critical_start_level", 0),
    )


def _level_from_dict(index: int, raw: Mapping[str, Any]) -> Level:
    """Level `index` from its JSON form, any refusal located under ("levels", index)."""
    try:
        targets = tuple(
            _target_from_dict(i, target) for i, target in enumerate(raw.get("targets", ()))
        )
        return Level(targets, raw.get("escalation_delay_in_minutes", 0))
    except InvalidInputError as err:
        raise err.within("levels", index) from err


def _target_from_dict(index: int, raw: Mapping[str, Any]) -> Target:
    """Target `index` from its JSON form, any refusal located under ("targets", index)."""
    try:
        return Target(raw.get("kind", ""), raw.get("id", ""))
    except InvalidInputError as err:
        raise err.within("targets", index) from err


def _check_belongs(policy: EscalationPolicy, state: EscalationState) -> None:
    """Refuse a state made for another policy or a level the policy no longer has."""
    if state.policy_id != policy.id:
        raise InvalidInputError(("policy_id",), f"state belongs to policy {state.policy_id!r}")
    if not 0 <= state.start_level < len(policy.levels):
        raise InvalidInputError(("start_level",), "the policy has no such level")


def _instant(text: Any, field: str) -> datetime:
    """An aware datetime from an ISO 8601 string, or an error naming `field`."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError) as err:
        raise InvalidInputError((field,), f"expected an ISO 8601 instant, got {text!r}") from err
    require_aware(value, field)
    return value


def _count(value: Any, field: str) -> int:
    """A non-negative whole number, or an error naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError((field,), "must be a non-negative whole number")
    return value
