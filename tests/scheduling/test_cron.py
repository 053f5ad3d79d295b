"""Cron expressions: checking (errors name the field) and next/previous firing times."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from forewarn.errors import InvalidInputError
from forewarn.runtime import build_runtime
from forewarn.runtime.container import retrain_schedule
from forewarn.scheduling.cron import cron_expression, parse_cron
from forewarn.settings import DEFAULT_RETRAIN_SCHEDULE, Settings, SettingsError


def at(text: str) -> datetime:
    """An aware UTC datetime from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (expression, now, next firing strictly after now, last firing at or before now)
CASES = [
    # 2026-11-26 is a Thursday.
    (DEFAULT_RETRAIN_SCHEDULE, "2026-11-26 12:00", "2026-11-29 03:00", "2026-11-22 03:00"),
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
    ("0 0 31 * *", "2026-04-15 12:00", "2026-05-31 00:00", "2026-03-31 00:00"),
    ("0 6 * * sat,sun", "2026-12-31 23:59", "2027-01-02 06:00", "2026-12-27 06:00"),
    # cronsim's extensions: the last day of the month, the second Monday.
    ("0 0 L * *", "2028-02-10 12:00", "2028-02-29 00:00", "2028-01-31 00:00"),
    ("0 8 * * mon#2", "2026-11-26 12:00", "2026-12-14 08:00", "2026-11-09 08:00"),
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
    ("0 0 3 * * *", "need 5 fields"),  # cronsim's seconds field is not cron
    ("@reboot", "need 5 fields"),
    ("61 * * * *", "bad minute"),
    ("0 24 * * *", "bad hour"),
    ("0 0 0 * *", "bad day-of-month"),
    ("0 0 * 13 *", "bad month"),
    ("0 0 * * 8", "bad day-of-week"),
    ("0 0 * * funday", "bad day-of-week"),
    ("10-5 * * * *", "bad minute"),
    ("*/0 * * * *", "bad minute"),
    ("1,,2 * * * *", "bad minute"),
    ("-1 * * * *", "bad minute"),
    ("0 0 31 2 *", "bad day-of-month"),  # never fires
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


@pytest.mark.parametrize("expression", [case[0] for case in CASES] + ["  0   3 * *  sun "])
def test_the_setting_reads_good_expressions_like_the_api(expression: str) -> None:
    """FOREWARN_RETRAIN_SCHEDULE is read by the same parse_cron as the API's schedules."""
    settings = Settings(_env_file=None, retrain_schedule=expression)
    assert retrain_schedule(settings) == cron_expression(expression)


def parse_cron_error(expression: str) -> str:
    """The message parse_cron gives for a bad expression."""
    with pytest.raises(InvalidInputError) as caught:
        parse_cron(expression)
    return caught.value.message


@pytest.mark.parametrize(("expression", "words"), BAD)
def test_the_setting_refuses_bad_expressions_like_the_api(expression: str, words: str) -> None:
    settings = Settings(_env_file=None, retrain_schedule=expression)
    with pytest.raises(SettingsError) as caught:
        retrain_schedule(settings)
    message = str(caught.value)
    assert message == f"setting FOREWARN_RETRAIN_SCHEDULE: {parse_cron_error(expression)}"
    assert words in message


def test_a_runtime_is_not_built_on_a_bad_schedule(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, retrain_schedule="61 * * * *")
    with pytest.raises(SettingsError, match="FOREWARN_RETRAIN_SCHEDULE"):
        build_runtime(settings)


def test_the_runtime_holds_the_schedule_normalised(tmp_path: Path) -> None:
    """The job, the CLI and the API's effective_schedule all read this one checked value."""
    settings = Settings(_env_file=None, data_dir=tmp_path, retrain_schedule="@daily")
    runtime = build_runtime(settings)
    try:
        assert runtime.retrain_schedule == "0 0 * * *"
    finally:
        runtime.close()
