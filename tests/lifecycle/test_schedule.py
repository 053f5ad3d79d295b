"""Cron expressions: parsing (errors name the field) and next/previous firing times."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from forewarn.errors import InvalidInputError
from forewarn.lifecycle.schedule import DEFAULT_SCHEDULE, cron_expression, parse_cron


def at(text: str) -> datetime:
    """An aware UTC datetime from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (expression, now, next firing strictly after now, last firing at or before now)
CASES = [
    # 2026-11-26 is a Thursday.
    (DEFAULT_SCHEDULE, "2026-11-26 12:00", "2026-11-29 03:00", "2026-11-22 03:00"),
    ("0 3 * * 0", "2026-11-29 03:00", "2026-12-06 03:00", "2026-11-29 03:00"),
    ("0 3 * * 7", "2026-11-26 12:00", "2026-11-29 03:00", "2026-11-22 03:00"),  # 7 = Sunday
    ("0 3 * * sun", "2026-11-26 12:00", "2026-11-29 03:00", "2026-11-22 03:00"),
    ("*/15 * * * *", "2026-11-26 12:07", "2026-11-26 12:15", "2026-11-26 12:00"),
    ("5-10/5 * * * *", "2026-11-26 12:07", "2026-11-26 12:10", "2026-11-26 12:05"),
    ("30 2 * * *", "2026-11-26 02:30", "2026-11-27 02:30", "2026-11-26 02:30"),
    ("0 0 1 * *", "2026-12-31 23:59", "2027-01-01 00:00", "2026-12-01 00:00"),
    ("0 9 * jan,jul mon-fri", "2026-11-26 12:00", "2027-01-01 09:00", "2026-07-31 09:00"),
    ("0 0 29 2 *", "2026-11-26 12:00", "2028-02-29 00:00", "2024-02-29 00:00"),
    # Both day fields restricted: either matches (the 13th, or any Friday).
    ("0 12 13 * 5", "2026-11-26 12:00", "2026-11-27 12:00", "2026-11-20 12:00"),
    ("0 12 13 * 5", "2026-12-12 12:00", "2026-12-13 12:00", "2026-12-11 12:00"),
    # A step on "*" leaves the day-of-month unrestricted: weekdays alone decide.
    ("0 12 */1 * 5", "2026-11-26 12:00", "2026-11-27 12:00", "2026-11-20 12:00"),
    ("@weekly", "2026-11-26 12:00", "2026-11-29 00:00", "2026-11-22 00:00"),
    ("@hourly", "2026-11-26 12:00", "2026-11-26 13:00", "2026-11-26 12:00"),
    ("0 0,12 * * *", "2026-11-26 11:59", "2026-11-26 12:00", "2026-11-26 00:00"),
]


@pytest.mark.parametrize(("expression", "now", "after", "before"), CASES)
def test_next_and_previous_firing(expression: str, now: str, after: str, before: str) -> None:
    schedule = parse_cron(expression)
    assert schedule.next_after(at(now)) == at(after)
    assert schedule.latest_at_or_before(at(now)) == at(before)


def test_seconds_within_a_minute_do_not_move_the_firing_times() -> None:
    schedule = parse_cron("30 2 * * *")
    moment = at("2026-11-26 02:30").replace(second=59)
    assert schedule.latest_at_or_before(moment) == at("2026-11-26 02:30")
    assert schedule.next_after(moment) == at("2026-11-27 02:30")


def test_naive_datetimes_are_utc() -> None:
    assert parse_cron("0 3 * * 0").next_after(datetime(2026, 11, 26, 12)) == at("2026-11-29 03:00")


# (expression, words the error must contain)
BAD = [
    ("0 3 * *", "need 5 fields"),
    ("61 * * * *", "minute: 61 is outside 0-59"),
    ("0 24 * * *", "hour: 24 is outside 0-23"),
    ("0 0 0 * *", "day of month: 0 is outside 1-31"),
    ("0 0 * 13 *", "month: 13 is outside 1-12"),
    ("0 0 * * 8", "day of week: 8 is outside 0-7"),
    ("0 0 * * funday", "day of week: 'funday' is not a number"),
    ("10-5 * * * *", "minute: range 10-5 runs backwards"),
    ("*/0 * * * *", "minute step: 0 is outside"),
    ("1,,2 * * * *", "minute: empty list item"),
    ("0 0 31 2 *", "never fires"),
]


@pytest.mark.parametrize(("expression", "words"), BAD)
def test_bad_expressions_say_which_field_is_wrong(expression: str, words: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_cron(expression)
    assert words in caught.value.message
    assert caught.value.loc == ("retrain_schedule",)
    with pytest.raises(ValueError, match=re.escape(words)):
        cron_expression(expression)


def test_expressions_are_normalised() -> None:
    assert cron_expression("  0   3 * *  sun ") == "0 3 * * sun"
    assert cron_expression("@daily") == "0 0 * * *"
