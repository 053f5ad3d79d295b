"""One layer of an on-call schedule: a rotation of participants handing off at a local time.

Handoffs follow the local wall clock and its DST rule (``localtime.py``); a layer may be
restricted to certain local hours of certain weekdays (``restriction.py``).

>>> from datetime import date
>>> berlin = Rotation(participants=("ana", "bo"), time_zone="Europe/Berlin",
...                   start=date(2026, 3, 28), handoff="09:00", kind="daily")
>>> [h.isoformat() for h in (berlin.handoff_at(0), berlin.handoff_at(1))]
['2026-03-28T08:00:00+00:00', '2026-03-29T07:00:00+00:00']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from forewarn.alarms.localtime import local_to_utc, parse_clock, zone
from forewarn.alarms.restriction import Restriction
from forewarn.errors import InvalidInputError

RotationKind = Literal["daily", "weekly"]
DAYS_PER_KIND: dict[str, int] = {"daily": 1, "weekly": 7}


@dataclass(frozen=True)
class Rotation:
    """Participants taking turns, one shift each `every` days or weeks, from `start`'s handoff."""

    participants: tuple[str, ...]
    time_zone: str
    start: date
    handoff: str = "09:00"
    kind: RotationKind = "weekly"
    every: int = 1
    restriction: Restriction | None = None

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
        parse_clock(self.handoff, "handoff")

    @property
    def period_days(self) -> int:
        """The length of one shift in local calendar days."""
        return DAYS_PER_KIND[self.kind] * self.every

    def handoff_at(self, index: int) -> datetime:
        """The UTC start of shift number `index` (0 is the first shift, at `start`)."""
        day = self.start + timedelta(days=index * self.period_days)
        return local_to_utc(day, parse_clock(self.handoff, "handoff"), zone(self.time_zone))

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
        """Who this layer puts on call at `when`: None before its start or outside its window."""
        index = self.shift_index(when)
        if index < 0:
            return None
        if self.restriction and not self.restriction.active(when, zone(self.time_zone)):
            return None
        return self.participants[index % len(self.participants)]

    def next_change(self, when: datetime) -> datetime:
        """The first handoff or restriction edge strictly after `when`."""
        handoff = self.handoff_at(max(self.shift_index(when) + 1, 0))
        if self.restriction is None:
            return handoff
        return min(handoff, self.restriction.next_edge(when, zone(self.time_zone)))
