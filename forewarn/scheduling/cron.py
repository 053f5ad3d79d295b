"""Cron schedules in UTC: five fields (minute hour day-of-month month day-of-week) or a macro.

cronsim reads the fields and finds the firing times: `*`, numbers, ranges `a-b`, steps `*/n`,
`a-b/n` and `a/n`, lists, English month and weekday names (`jan`, `sun`; 7 is Sunday too),
and when both day fields are restricted a day matches if either does (as in Vixie cron). We
add `@hourly`, `@daily`, `@weekly`, `@monthly` and `@yearly`, and refuse a sixth (seconds)
field. FOREWARN_RETRAIN_SCHEDULE is checked with `parse_cron` when the runtime is built.

>>> from datetime import datetime, UTC
>>> weekly = parse_cron("0 3 * * sun")
>>> weekly.next_after(datetime(2026, 11, 26, 12, 0, tzinfo=UTC)).isoformat()
'2026-11-29T03:00:00+00:00'
>>> weekly.latest_at_or_before(datetime(2026, 11, 26, 12, 0, tzinfo=UTC)).isoformat()
'2026-11-22T03:00:00+00:00'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronsim import CronSim, CronSimError

from forewarn.errors import InvalidInputError

_LOC = ("retrain_schedule",)
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


@dataclass(frozen=True)
class CronSchedule:
    """A checked, normalised expression and its firing times (whole minutes, UTC)."""

    expression: str

    def next_after(self, moment: datetime) -> datetime:
        """The first firing time strictly after `moment` (aware; naive means UTC)."""
        return self._first(_utc(moment), reverse=False)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last firing time at or before `moment`."""
        # cronsim steps back one second before it looks: start just after the minute.
        minute = _utc(moment).replace(second=0, microsecond=0)
        return self._first(minute + timedelta(seconds=1), reverse=True)

    def _first(self, start: datetime, *, reverse: bool) -> datetime:
        try:
            return next(CronSim(self.expression, start, reverse=reverse))
        except StopIteration as err:  # cronsim gives up after 50 years
            raise InvalidInputError(_LOC, f"{self.expression!r} never fires") from err


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_cron(expression: str) -> CronSchedule:
    """Check five fields or a macro; InvalidInputError names the field that is wrong."""
    text = _MACROS.get(expression.strip().lower(), expression.strip())
    fields = text.split()
    if len(fields) != 5:  # cronsim would also take a sixth field, for seconds
        msg = f"{expression!r}: need 5 fields (minute hour day-of-month month day-of-week)"
        raise InvalidInputError(_LOC, msg)
    schedule = CronSchedule(" ".join(fields))
    try:
        schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as err:  # "Bad day-of-week"
        raise InvalidInputError(_LOC, f"{expression!r}: {str(err).lower()}") from err
    return schedule


def cron_expression(expression: str) -> str:
    """A pydantic validator: the normalised expression, or ValueError with the reason."""
    try:
        return parse_cron(expression).expression
    except InvalidInputError as err:
        raise ValueError(err.message) from err
