"""A layer's restriction: the local hours of chosen weekdays in which the layer has shifts.

Outside its window a restricted layer has no shift, so the layers below it show through
(e.g. a weekday 09:00-17:00 day team over a 24/7 rotation). The window lies within one local
day (start before end); its edges follow the same DST rule as handoffs (``localtime.py``).

>>> from zoneinfo import ZoneInfo
>>> from datetime import datetime, UTC
>>> office = Restriction(weekdays=(0, 1, 2, 3, 4), start="09:00", end="17:00")
>>> office.active(datetime(2026, 1, 5, 8, 30, tzinfo=UTC), ZoneInfo("Europe/Berlin"))
True
>>> office.next_edge(datetime(2026, 1, 9, 17, 0, tzinfo=UTC), ZoneInfo("Europe/Berlin"))
datetime.datetime(2026, 1, 12, 8, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from forewarn.alarms.localtime import local_to_utc, parse_clock
from forewarn.errors import InvalidInputError

WEEKDAYS = range(7)  # 0 is Monday, as datetime.weekday() counts


@dataclass(frozen=True)
class Restriction:
    """On `weekdays` (0 = Monday), from local `start` to `end` (HH:MM, end after start)."""

    weekdays: tuple[int, ...]
    start: str
    end: str

    def __post_init__(self) -> None:
        """Refuse no weekdays, an unknown weekday, or a window that does not move forward."""
        if not self.weekdays or any(day not in WEEKDAYS for day in self.weekdays):
            raise InvalidInputError(("weekdays",), "expected weekdays 0 (Monday) to 6")
        opens = parse_clock(self.start, "start")
        if parse_clock(self.end, "end") <= opens:
            raise InvalidInputError(("end",), "must be after start, on the same day")

    def window(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
        """The UTC [start, end) of `day`'s window, or None if `day` is not one of the weekdays."""
        if day.weekday() not in self.weekdays:
            return None
        opens, closes = parse_clock(self.start, "start"), parse_clock(self.end, "end")
        return local_to_utc(day, opens, tz), local_to_utc(day, closes, tz)

    def active(self, when: datetime, tz: ZoneInfo) -> bool:
        """Whether `when` lies inside its local day's window."""
        window = self.window(when.astimezone(tz).date(), tz)
        return window is not None and window[0] <= when < window[1]

    def next_edge(self, when: datetime, tz: ZoneInfo) -> datetime:
        """The first window opening or closing strictly after `when`."""
        today = when.astimezone(tz).date()
        # Eight days always hold the next edge: every listed weekday recurs within a week.
        for offset in range(8):
            window = self.window(today + timedelta(days=offset), tz)
            for edge in window or ():
                if edge > when:
                    return edge
        raise AssertionError("unreachable: a weekday recurs within eight days")
