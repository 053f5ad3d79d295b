"""Local wall-clock times of on-call schedules: IANA zones, HH:MM clocks, and the DST rule.

Handoffs and restriction edges are written in local wall-clock time and only then converted to
UTC, so a 09:00 Europe/Berlin handoff stays 09:00 on both sides of a daylight-saving change
(the shift that spans the change lasts 23 h or 25 h).

The DST rule (Python's ``fold=0``): a local time inside the skipped hour of a spring-forward
day is read with the offset in force before the change, so it happens at the same UTC instant
as the old offset gives, i.e. it moves forward by the length of the gap (02:30 becomes 03:30
summer time); a local time inside the repeated hour of a fall-back day is its first occurrence
(the one still on summer time).

>>> from datetime import date, time
>>> local_to_utc(date(2026, 3, 29), time(2, 30), zone("Europe/Berlin")).isoformat()
'2026-03-29T01:30:00+00:00'
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from forewarn.errors import InvalidInputError

CLOCK_FORMAT = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def zone(name: str, field: str = "time_zone") -> ZoneInfo:
    """The IANA time zone `name`, or an error naming `field` if the zone is unknown."""
    # A name is looked up as a file: a directory ("America") or an overlong name is an OSError.
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise InvalidInputError((field,), f"unknown time zone {name!r}") from err


def parse_clock(text: str, field: str) -> time:
    """A local wall-clock time written HH:MM (00:00 to 23:59)."""
    if not isinstance(text, str) or not CLOCK_FORMAT.match(text):
        raise InvalidInputError((field,), f"expected a time as HH:MM, got {text!r}")
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of the local wall-clock `at` on `day` (fold=0: see the module doc)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
