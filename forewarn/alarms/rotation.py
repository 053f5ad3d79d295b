"""One layer of an on-call schedule: a rotation of participants handing off at a local time.

Handoffs are computed in local wall-clock time and only then converted to UTC, so a 09:00
Europe/Berlin handoff stays 09:00 on both sides of a daylight-saving change (the shift that
spans the change lasts 23 h or 25 h).

The DST rule (Python's ``fold=0``): a handoff inside the skipped hour of a spring-forward day
happens at the same UTC instant as the old offset would give, i.e. it moves forward by the
length of the gap (02:30 becomes 03:30); a handoff inside the repeated hour of a fall-back day
happens at its first occurrence (the one still on summer time).

>>> from datetime import date
>>> berlin = Rotation(participants=("ana", "bo"), time_zone="Europe/Berlin",
...                   start=date(2026, 3, 28), handoff="09:00", kind="daily")
>>> [h.isoformat() for h in (berlin.handoff_at(0), berlin.handoff_at(1))]
['2026-03-28T08:00:00+00:00', '2026-03-29T07:00:00+00:00']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from forewarn.errors import InvalidInputError

RotationKind = Literal["daily", "weekly"]
DAYS_PER_KIND: dict[str, int] = {"daily": 1, "weekly": 7}
HANDOFF_FORMAT = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def zone(name: str, field: str = "time_zone") -> ZoneInfo:
    """The IANA time zone `name`, or an error naming `field` if the zone is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidInputError((field,), f"unknown time zone {name!r}") from err


def parse_handoff(text: str, field: str = "handoff") -> time:
    """A local wall-clock time written HH:MM (00:00 to 23:59)."""
    if not isinstance(text, str) or not HANDOFF_FORMAT.match(text):
        raise InvalidInputError((field,), f"expected a time as HH:MM, got {text!r}")
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of the local wall-clock `at` on `day` (fold=0: see the module doc)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Rotation:
    """Participants taking turns, one shift each `every` days or weeks, from `start`'s handoff."""

    participants: tuple[str, ...]
    time_zone: str
    start: date
    handoff: str = "09:00"
    kind: RotationKind = "weekly"
    every: int = 1

    def __post_init__(self) -> None:
        """Refuse a rotation that cannot be walked, naming the field."""
        if not self.participants:
            raise InvalidInputError(("participants",), "a rotation needs at least one user")
        if any(not isinstance(user, str) or not user for user in self.participants):
            raise InvalidInputError(("participants",), "user ids must be non-empty strings")
        if self.kind not in DAYS_PER_KIND:
            raise InvalidInputError(("kind",), f"expected 'daily' or 'weekly', got {self.kind!r}")
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise InvalidInputError(("every",), "must be a whole number of at least 1")
        zone(self.time_zone)
        parse_handoff(self.handoff)

    @property
    def period_days(self) -> int:
        """The length of one shift in local calendar days."""
        return DAYS_PER_KIND[self.kind] * self.every

    def handoff_at(self, index: int) -> datetime:
        """The UTC start of shift number `index` (0 is the first shift, at `start`)."""
        day = self.start + timedelta(days=index * self.period_days)
        return local_to_utc(day, parse_handoff(self.handoff), zone(self.time_zone))

    def shift_index(self, when: datetime) -> int:
        """The number of the shift running at `when` (negative before the first one)."""
        first = self.handoff_at(0)
        index = (when - first) // timedelta(days=self.period_days)
        # The estimate ignores DST; step to the shift whose [start, next start) holds `when`.
        while self.handoff_at(index) > when:
            index -= 1
        while self.handoff_at(index + 1) <= when:
            index += 1
        return index

    def user_at(self, when: datetime) -> str | None:
        """Who this rotation puts on call at `when`, or None before its first shift."""
        index = self.shift_index(when)
        return None if index < 0 else self.participants[index % len(self.participants)]

    def next_change(self, when: datetime) -> datetime:
        """The first handoff strictly after `when`."""
        return self.handoff_at(max(self.shift_index(when) + 1, 0))
