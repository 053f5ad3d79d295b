"""Cron-like schedules: five fields (minute hour day-of-month month day-of-week), in UTC.

Each field takes `*`, a number, a range `a-b`, a step `*/n` or `a-b/n` (or `a/n`: from a to
the field's end), and comma-separated lists of those; months and weekdays also take English
names (`jan`, `sun`), and 7 is Sunday like 0. When both day fields are restricted a day
matches if either does (as in Vixie cron). `@hourly`, `@daily`, `@weekly`, `@monthly` and
`@yearly` stand for their usual expressions.

>>> from datetime import datetime, UTC
>>> weekly = parse_cron("0 3 * * sun")
>>> weekly.next_after(datetime(2026, 11, 26, 12, 0, tzinfo=UTC)).isoformat()
'2026-11-29T03:00:00+00:00'
>>> weekly.latest_at_or_before(datetime(2026, 11, 26, 12, 0, tzinfo=UTC)).isoformat()
'2026-11-22T03:00:00+00:00'
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from forewarn.errors import InvalidInputError

DEFAULT_SCHEDULE = "0 3 * * 0"  # weekly: Sunday 03:00 UTC
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# Any satisfiable expression fires within 8 years (29 February, in a century's gap).
_SEARCH_DAYS = 8 * 366 + 2


@dataclass(frozen=True)
class CronField:
    """One of the five fields: its name, range and optional names for values."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0  # value of names[0]


FIELDS = (
    CronField("minute", 0, 59),
    CronField("hour", 0, 23),
    CronField("day of month", 1, 31),
    CronField("month", 1, 12, _MONTHS, 1),
    CronField("day of week", 0, 7, _DAYS, 0),  # 7 is Sunday too
)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed expression: the allowed values of each field."""

    expression: str
    times: tuple[tuple[int, int], ...]  # (hour, minute), sorted
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def matches_day(self, day: date) -> bool:
        """Whether the schedule fires at some time of `day`."""
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def next_after(self, moment: datetime) -> datetime:
        """The first firing time strictly after `moment` (aware; naive means UTC)."""
        start = _utc(moment).replace(second=0, microsecond=0) + timedelta(minutes=1)
        return self._search(start, forward=True)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last firing time at or before `moment`."""
        return self._search(_utc(moment).replace(second=0, microsecond=0), forward=False)

    def _search(self, start: datetime, *, forward: bool) -> datetime:
        day, step = start.date(), timedelta(days=1 if forward else -1)
        for _ in range(_SEARCH_DAYS):
            if self.matches_day(day):
                at = self._time_on(day, start, forward)
                if at is not None:
                    return datetime.combine(day, time(*at), UTC)
            day += step
        raise InvalidInputError(("retrain_schedule",), f"{self.expression!r} never fires")

    def _time_on(self, day: date, start: datetime, forward: bool) -> tuple[int, int] | None:
        """The first (forward) or last time of `day` on the right side of `start`."""
        if day != start.date():
            return self.times[0] if forward else self.times[-1]
        now = (start.hour, start.minute)
        if forward:
            i = bisect.bisect_left(self.times, now)
            return self.times[i] if i < len(self.times) else None
        i = bisect.bisect_right(self.times, now)
        return self.times[i - 1] if i else None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _value(text: str, spec: CronField) -> int:
    lowered = text.lower()
    if lowered in spec.names:
        return spec.names.index(lowered) + spec.name_base
    if not text.isdigit():
        raise ValueError(f"{spec.name}: {text!r} is not a number")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise ValueError(f"{spec.name}: {value} is outside {spec.low}-{spec.high}")
    return value


def _part(text: str, spec: CronField) -> set[int]:
    """One list item: `*`, `a`, `a-b`, each optionally `/step`."""
    base, _, step_text = text.partition("/")
    step = _value(step_text, CronField(spec.name + " step", 1, spec.high)) if step_text else 1
    if base == "*":
        low, high = spec.low, spec.high
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _value(first, spec), _value(last, spec)
        if low > high:
            raise ValueError(f"{spec.name}: range {base} runs backwards")
    else:
        low = _value(base, spec)
        high = spec.high if step_text else low
    return set(range(low, high + 1, step))


def _field(text: str, spec: CronField) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"{spec.name}: empty list item")
        values |= _part(item, spec)
    return frozenset(values)


def parse_cron(expression: str) -> CronSchedule:
    """Parse five fields or a macro; InvalidInputError names the field that is wrong."""
    text = _MACROS.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != len(FIELDS):
        raise InvalidInputError(
            ("retrain_schedule",),
            f"{expression!r}: need 5 fields (minute hour day-of-month month day-of-week)",
        )
    try:
        minutes, hours, days, months, weekdays = (
            _field(p, f) for p, f in zip(parts, FIELDS, strict=True)
        )
    except ValueError as err:
        raise InvalidInputError(("retrain_schedule",), f"{expression!r}: {err}") from err
    schedule = CronSchedule(
        expression=" ".join(parts),
        times=tuple(sorted((h, m) for h in hours for m in minutes)),
        days=days,
        months=months,
        weekdays=frozenset(d % 7 for d in weekdays),
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )
    schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))  # refuses "31 February"
    return schedule


def cron_expression(expression: str) -> str:
    """A pydantic validator: the normalised expression, or ValueError with the reason."""
    try:
        return parse_cron(expression).expression
    except InvalidInputError as err:
        raise ValueError(err.message) from err
