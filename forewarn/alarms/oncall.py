"""On-call schedules: layers of rotations, temporary overrides, and who is on call when.

A schedule's layers are ordered bottom to top: where a higher layer has a shift it wins over
the ones below it (a layer has a shift from the handoff on its start date onwards, and only
inside its restriction's window if it has one). An
override (user X covers [start, end)) wins over every layer; of two overlapping overrides the
later one in the tuple wins. All instants are timezone-aware; results are in UTC.

>>> from datetime import date, datetime, UTC
>>> week = Rotation(participants=("ana", "bo"), time_zone="America/New_York",
...                 start=date(2026, 3, 2), handoff="09:00", kind="weekly")
>>> schedule = Schedule(id="plant-a", layers=(week,))
>>> on_call_at(schedule, datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
'bo'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from forewarn.alarms.restriction import Restriction
from forewarn.alarms.rotation import Rotation
from forewarn.errors import InvalidInputError

# A guard against a schedule that never changes hands: stop looking this far ahead.
HORIZON = timedelta(days=3 * 366)
T = TypeVar("T")


class Shift(NamedTuple):
    """One stretch of time in which one user is on call, [start, end) in UTC."""

    user: str
    start: datetime
    end: datetime


def require_aware(value: datetime, field: str) -> None:
    """Refuse a naive datetime: without an offset an instant is ambiguous."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInputError((field,), "expected a timezone-aware datetime")


@dataclass(frozen=True)
class Override:
    """`user` covers the schedule from `start` until `end` (end excluded)."""

    user: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        """Refuse an override without a user or with an end not after its start."""
        if not isinstance(self.user, str) or not self.user:
            raise InvalidInputError(("user",), "must be a non-empty user id")
        require_aware(self.start, "start")
        require_aware(self.end, "end")
        if self.end <= self.start:
            raise InvalidInputError(("end",), "must be after start")

    def covers(self, when: datetime) -> bool:
        """Whether `when` falls inside [start, end)."""
        return self.start <= when < self.end


@dataclass(frozen=True)
class Schedule:
    """An on-call schedule: rotation layers (bottom first) and overrides on top."""

    id: str
    layers: tuple[Rotation, ...]
    overrides: tuple[Override, ...] = ()

    def __post_init__(self) -> None:
        """Refuse a schedule with no layer."""
        if not self.layers:
            raise InvalidInputError(("layers",), "a schedule needs at least one layer")


def on_call_at(schedule: Schedule, when_utc: datetime) -> str | None:
    """The user on call at `when_utc`, or None if nobody is (before every layer starts)."""
    require_aware(when_utc, "when_utc")
    for override in reversed(schedule.overrides):
        if override.covers(when_utc):
            return override.user
    for layer in reversed(schedule.layers):
        user = layer.user_at(when_utc)
        if user is not None:
            return user
    return None


def next_change(schedule: Schedule, after: datetime) -> datetime:
    """The first instant after `after` at which the on-call user may change."""
    candidates = [layer.next_change(after) for layer in schedule.layers]
    for override in schedule.overrides:
        candidates += [edge for edge in (override.start, override.end) if edge > after]
    return min(candidates)


def shifts(schedule: Schedule, from_utc: datetime, count: int) -> list[Shift]:
    """The next `count` shifts from `from_utc`, overrides and layers applied, equal ones merged.

    The first shift is the one running at `from_utc` (it is reported as starting there); gaps
    in which nobody is on call are skipped; a shift that does not end within `HORIZON` (one
    participant, no override) is reported as ending at the first change point past it.
    """
    require_aware(from_utc, "from_utc")
    if count < 0:
        raise InvalidInputError(("count",), "must not be negative")
    found: list[Shift] = []
    start, user = from_utc, on_call_at(schedule, from_utc)
    while len(found) < count and start < from_utc + HORIZON:
        end = _end_of(schedule, start, user)
        if user is not None:
            found.append(Shift(user, start.astimezone(UTC), end.astimezone(UTC)))
        start, user = end, on_call_at(schedule, end)
    return found


def _end_of(schedule: Schedule, start: datetime, user: str | None) -> datetime:
    """The first change point after `start` at which someone other than `user` is on call."""
    end = next_change(schedule, start)
    while on_call_at(schedule, end) == user and end < start + HORIZON:
        end = next_change(schedule, end)
    return end


def schedule_from_dict(data: Mapping[str, Any]) -> Schedule:
    """A schedule from its JSON form (docs/oncall.md); errors name the field's path."""
    layers = tuple(
        _located(("layers", i), _rotation_from_dict, raw)
        for i, raw in enumerate(data.get("layers", ()))
    )
    overrides = tuple(
        _located(("overrides", i), _override_from_dict, raw)
        for i, raw in enumerate(data.get("overrides", ()))
    )
    return Schedule(id=str(data.get("id", "")), layers=layers, overrides=overrides)


def _located(prefix: tuple[str | int, ...], build: Callable[[Any], T], raw: Any) -> T:
    """`build(raw)`, with any refusal located under `prefix`."""
    try:
        return build(raw)
    except InvalidInputError as err:
        raise err.within(*prefix) from err


def _rotation_from_dict(raw: Mapping[str, Any]) -> Rotation:
    """One layer from its JSON form."""
    participants = raw.get("participants", ())
    if isinstance(participants, str):  # a lone string would otherwise become its letters
        raise InvalidInputError(("participants",), "expected a list of user ids")
    return Rotation(
        participants=tuple(participants),
        time_zone=str(raw.get("time_zone", "")),
        start=_parse(date.fromisoformat, raw.get("start"), "start"),
        handoff=raw.get("handoff", "09:00"),
        kind=raw.get("kind", "weekly"),
        every=raw.get("every", 1),
        restriction=_restriction_from_dict(raw.get("restriction")),
    )


def _restriction_from_dict(raw: Mapping[str, Any] | None) -> Restriction | None:
    """A layer's restriction from its JSON form, if it has one."""
    if raw is None:
        return None
    return _located(
        ("restriction",),
        lambda r: Restriction(tuple(r.get("weekdays", ())), r.get("start"), r.get("end")),
        raw,
    )


def _override_from_dict(raw: Mapping[str, Any]) -> Override:
    """One override from its JSON form."""
    return Override(
        user=raw.get("user", ""),
        start=_parse(datetime.fromisoformat, raw.get("start"), "start"),
        end=_parse(datetime.fromisoformat, raw.get("end"), "end"),
    )


def _parse(parse: Callable[[str], T], text: Any, field: str) -> T:
    """`parse(text)` for an ISO 8601 string, or an error naming `field`."""
    try:
        return parse(text)
    except (TypeError, ValueError) as err:
        raise InvalidInputError((field,), f"expected an ISO 8601 value, got {text!r}") from err
