"""On-call schedules: rotations, handoffs, layers, overrides, the next shifts and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from forewarn.alarms.oncall import (
    Override,
    Schedule,
    Shift,
    on_call_at,
    schedule_from_dict,
    shifts,
)
from forewarn.alarms.restriction import Restriction
from forewarn.alarms.rotation import Rotation
from forewarn.errors import InvalidInputError


def utc(*args: int) -> datetime:
    """An instant given as UTC fields."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def rotation(**changes: object) -> Rotation:
    """A daily Berlin rotation of a, b, c from Monday 2026-01-05 09:00, with `changes`."""
    fields: dict[str, object] = {
        "participants": ("a", "b", "c"),
        "time_zone": "Europe/Berlin",
        "start": date(2026, 1, 5),
        "handoff": "09:00",
        "kind": "daily",
    }
    return Rotation(**{**fields, **changes})  # type: ignore[arg-type]


def one_layer(**changes: object) -> Schedule:
    """A schedule of the one rotation `rotation(**changes)`."""
    return Schedule(id="s", layers=(rotation(**changes),))


def test_daily_rotation_hands_off_at_the_local_handoff_and_wraps() -> None:
    schedule = one_layer()  # 09:00 CET is 08:00 UTC in January
    assert on_call_at(schedule, utc(2026, 1, 5, 7, 59)) is None
    assert on_call_at(schedule, utc(2026, 1, 5, 8, 0)) == "a"
    assert on_call_at(schedule, utc(2026, 1, 6, 7, 59)) == "a"
    assert on_call_at(schedule, utc(2026, 1, 6, 8, 0)) == "b"
    assert on_call_at(schedule, utc(2026, 1, 7, 8, 0)) == "c"
    assert on_call_at(schedule, utc(2026, 1, 8, 8, 0)) == "a"


def test_weekly_and_every_two_weeks() -> None:
    weekly = one_layer(kind="weekly", participants=("a", "b"))
    assert on_call_at(weekly, utc(2026, 1, 12, 7, 59)) == "a"
    assert on_call_at(weekly, utc(2026, 1, 12, 8, 0)) == "b"
    assert on_call_at(weekly, utc(2026, 1, 19, 8, 0)) == "a"
    fortnight = one_layer(kind="weekly", every=2, participants=("a", "b"))
    assert on_call_at(fortnight, utc(2026, 1, 18, 12, 0)) == "a"
    assert on_call_at(fortnight, utc(2026, 1, 19, 8, 0)) == "b"


def test_every_three_days_in_new_york_with_an_evening_handoff() -> None:
    schedule = one_layer(time_zone="America/New_York", handoff="17:30", every=3)
    # 17:30 EST is 22:30 UTC; the second shift starts three days after the first.
    assert on_call_at(schedule, utc(2026, 1, 5, 22, 29)) is None
    assert on_call_at(schedule, utc(2026, 1, 8, 22, 29)) == "a"
    assert on_call_at(schedule, utc(2026, 1, 8, 22, 30)) == "b"


def test_a_higher_layer_wins_from_its_start() -> None:
    base = rotation(kind="weekly", participants=("a", "b"))
    top = rotation(participants=("x", "y"), start=date(2026, 1, 10))
    schedule = Schedule(id="s", layers=(base, top))
    assert on_call_at(schedule, utc(2026, 1, 10, 7, 0)) == "a"
    assert on_call_at(schedule, utc(2026, 1, 10, 8, 0)) == "x"
    assert on_call_at(schedule, utc(2026, 1, 11, 8, 0)) == "y"
    # The order of layers matters: the same two the other way round leave the top unseen.
    flipped = Schedule(id="s", layers=(top, base))
    assert on_call_at(flipped, utc(2026, 1, 11, 8, 0)) == "a"


def test_an_override_inside_one_shift_splits_it() -> None:
    cover = Override("z", utc(2026, 1, 5, 12, 0), utc(2026, 1, 5, 14, 0))
    schedule = Schedule(id="s", layers=(rotation(),), overrides=(cover,))
    assert shifts(schedule, utc(2026, 1, 5, 8, 0), 4) == [
        Shift("a", utc(2026, 1, 5, 8, 0), utc(2026, 1, 5, 12, 0)),
        Shift("z", utc(2026, 1, 5, 12, 0), utc(2026, 1, 5, 14, 0)),
        Shift("a", utc(2026, 1, 5, 14, 0), utc(2026, 1, 6, 8, 0)),
        Shift("b", utc(2026, 1, 6, 8, 0), utc(2026, 1, 7, 8, 0)),
    ]


def test_an_override_across_a_handoff_and_the_later_override_wins() -> None:
    across = Override("z", utc(2026, 1, 6, 6, 0), utc(2026, 1, 6, 10, 0))
    later = Override("q", utc(2026, 1, 6, 9, 0), utc(2026, 1, 6, 9, 30))
    schedule = Schedule(id="s", layers=(rotation(),), overrides=(across, later))
    assert shifts(schedule, utc(2026, 1, 6, 0, 0), 5) == [
        Shift("a", utc(2026, 1, 6, 0, 0), utc(2026, 1, 6, 6, 0)),
        Shift("z", utc(2026, 1, 6, 6, 0), utc(2026, 1, 6, 9, 0)),
        Shift("q", utc(2026, 1, 6, 9, 0), utc(2026, 1, 6, 9, 30)),
        Shift("z", utc(2026, 1, 6, 9, 30), utc(2026, 1, 6, 10, 0)),
        Shift("b", utc(2026, 1, 6, 10, 0), utc(2026, 1, 7, 8, 0)),
    ]


def test_adjacent_equal_shifts_merge() -> None:
    # a covers for herself and then b's first hour: one shift, not three.
    cover = Override("a", utc(2026, 1, 5, 12, 0), utc(2026, 1, 6, 9, 0))
    schedule = Schedule(id="s", layers=(rotation(),), overrides=(cover,))
    assert shifts(schedule, utc(2026, 1, 5, 10, 0), 2) == [
        Shift("a", utc(2026, 1, 5, 10, 0), utc(2026, 1, 6, 9, 0)),
        Shift("b", utc(2026, 1, 6, 9, 0), utc(2026, 1, 7, 8, 0)),
    ]


def test_the_next_shifts_skip_the_time_before_the_start() -> None:
    found = shifts(one_layer(), utc(2026, 1, 1, 0, 0), 4)
    assert [(s.user, s.start.day, s.end.day) for s in found] == [
        ("a", 5, 6),
        ("b", 6, 7),
        ("c", 7, 8),
        ("a", 8, 9),
    ]
    assert shifts(one_layer(), utc(2026, 1, 1, 0, 0), 0) == []


@pytest.mark.parametrize(
    ("zone", "before", "change", "hours"),
    [
        ("Europe/Berlin", date(2026, 3, 28), "spring", 23),
        ("Europe/Berlin", date(2026, 10, 24), "fall", 25),
        ("America/New_York", date(2026, 3, 7), "spring", 23),
        ("America/New_York", date(2026, 10, 31), "fall", 25),
    ],
)
def test_a_shift_across_a_dst_change_keeps_the_local_handoff(
    zone: str, before: date, change: str, hours: int
) -> None:
    schedule = one_layer(time_zone=zone, start=before, participants=("a", "b"))
    first = datetime(before.year, before.month, before.day, 9, tzinfo=ZoneInfo(zone))
    found = shifts(schedule, first, 3)
    assert found[0].start == first
    assert found[0].start.tzinfo is UTC
    assert [s.end - s.start for s in found] == [timedelta(hours=h) for h in (hours, 24, 24)]
    for shift in found:
        local = shift.start.astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute) == (9, 0), change


def test_weekly_rotation_hands_off_at_nine_local_after_the_change() -> None:
    schedule = one_layer(time_zone="America/New_York", kind="weekly", start=date(2026, 3, 2))
    # Monday 2026-03-09 09:00 EDT is 13:00 UTC; before the change it was 14:00 UTC.
    assert on_call_at(schedule, utc(2026, 3, 9, 12, 59)) == "a"
    assert on_call_at(schedule, utc(2026, 3, 9, 13, 0)) == "b"


@pytest.mark.parametrize(
    ("zone", "day", "handoff", "expected_utc", "local_hour"),
    [
        # Skipped hour: the handoff moves forward by the gap (02:30 -> 03:30 summer time).
        ("Europe/Berlin", date(2026, 3, 29), "02:30", utc(2026, 3, 29, 1, 30), 3),
        ("America/New_York", date(2026, 3, 8), "02:30", utc(2026, 3, 8, 7, 30), 3),
        # Repeated hour: the first occurrence, still on summer time.
        ("Europe/Berlin", date(2026, 10, 25), "02:30", utc(2026, 10, 25, 0, 30), 2),
        ("America/New_York", date(2026, 11, 1), "01:30", utc(2026, 11, 1, 5, 30), 1),
    ],
)
def test_a_handoff_in_the_skipped_or_repeated_hour(
    zone: str, day: date, handoff: str, expected_utc: datetime, local_hour: int
) -> None:
    layer = rotation(time_zone=zone, handoff=handoff, start=day - timedelta(days=1))
    assert layer.handoff_at(1) == expected_utc
    assert layer.handoff_at(1).astimezone(ZoneInfo(zone)).hour == local_hour
    schedule = Schedule(id="s", layers=(layer,))
    assert on_call_at(schedule, expected_utc - timedelta(seconds=1)) == "a"
    assert on_call_at(schedule, expected_utc) == "b"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"time_zone": "America"}, "time_zone"),
        ({"time_zone": "x" * 300}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"participants": ()}, "participants"),
        ({"participants": ("a", "")}, "participants"),
        ({"handoff": "9:00"}, "handoff"),
        ({"handoff": "24:00"}, "handoff"),
        ({"handoff": "09:60"}, "handoff"),
        ({"kind": "monthly"}, "kind"),
        ({"every": 0}, "every"),
    ],
)
def test_a_rotation_names_the_field_it_refuses(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        rotation(**changes)
    assert caught.value.loc == (field,)


def test_overrides_and_schedules_name_the_field_they_refuse() -> None:
    with pytest.raises(InvalidInputError) as caught:
        Override("z", utc(2026, 1, 5, 14, 0), utc(2026, 1, 5, 12, 0))
    assert caught.value.loc == ("end",)
    with pytest.raises(InvalidInputError) as caught:
        Override("z", datetime(2026, 1, 5), utc(2026, 1, 6))
    assert caught.value.loc == ("start",)
    with pytest.raises(InvalidInputError) as caught:
        Schedule(id="s", layers=())
    assert caught.value.loc == ("layers",)
    with pytest.raises(InvalidInputError) as caught:
        on_call_at(one_layer(), datetime(2026, 1, 5, 9))
    assert caught.value.loc == ("when_utc",)


def test_a_schedule_from_json_and_its_refusals_located() -> None:
    data = {
        "id": "plant-a",
        "layers": [
            {"participants": ["a", "b"], "time_zone": "Europe/Berlin", "start": "2026-01-05"},
            {
                "participants": ["x"],
                "time_zone": "America/New_York",
                "start": "2026-01-10",
                "handoff": "17:30",
                "kind": "daily",
                "every": 2,
            },
        ],
        "overrides": [{"user": "z", "start": "2026-01-06T06:00Z", "end": "2026-01-06T10:00Z"}],
    }
    schedule = schedule_from_dict(data)
    assert schedule.layers[1] == Rotation(
        ("x",), "America/New_York", date(2026, 1, 10), "17:30", "daily", 2
    )
    assert on_call_at(schedule, utc(2026, 1, 6, 7, 0)) == "z"
    data["overrides"] = [{"user": "z", "start": "2026-01-06T10:00Z", "end": "2026-01-06T06:00Z"}]
    with pytest.raises(InvalidInputError) as caught:
        schedule_from_dict(data)
    assert caught.value.loc == ("overrides", 0, "end")
    data["layers"][1]["time_zone"] = "Nowhere/Atlantis"  # type: ignore[index]
    with pytest.raises(InvalidInputError) as caught:
        schedule_from_dict(data)
    assert caught.value.loc == ("layers", 1, "time_zone")
    data["layers"][0]["participants"] = "ab"  # type: ignore[index]
    with pytest.raises(InvalidInputError) as caught:
        schedule_from_dict(data)
    assert caught.value.loc == ("layers", 0, "participants")


def office_hours_over_a_weekly_rota(zone: str = "Europe/Berlin") -> Schedule:
    """A 24/7 weekly a/b base with a daily x/y day team on weekdays 09:00-17:00 on top."""
    office = Restriction(weekdays=(0, 1, 2, 3, 4), start="09:00", end="17:00")
    base = rotation(kind="weekly", participants=("a", "b"), time_zone=zone)
    return Schedule(
        id="s", layers=(base, rotation(participants=("x", "y"), restriction=office, time_zone=zone))
    )


def test_a_restricted_layer_shows_the_layer_below_outside_its_window() -> None:
    schedule = office_hours_over_a_weekly_rota()
    assert on_call_at(schedule, utc(2026, 1, 5, 7, 59)) is None
    assert on_call_at(schedule, utc(2026, 1, 5, 8, 0)) == "x"  # 09:00 CET
    assert on_call_at(schedule, utc(2026, 1, 5, 16, 0)) == "a"  # 17:00 CET
    assert on_call_at(schedule, utc(2026, 1, 10, 10, 0)) == "a"  # Saturday
    assert shifts(schedule, utc(2026, 1, 9, 12, 0), 4) == [
        Shift("x", utc(2026, 1, 9, 12, 0), utc(2026, 1, 9, 16, 0)),  # Friday, 5th day: x
        Shift("a", utc(2026, 1, 9, 16, 0), utc(2026, 1, 12, 8, 0)),  # the weekend
        Shift("y", utc(2026, 1, 12, 8, 0), utc(2026, 1, 12, 16, 0)),
        Shift("b", utc(2026, 1, 12, 16, 0), utc(2026, 1, 13, 8, 0)),
    ]


def test_a_window_opens_at_local_time_after_a_dst_change() -> None:
    schedule = office_hours_over_a_weekly_rota("America/New_York")
    # Monday 2026-03-09 is the first weekday on summer time: 09:00 EDT is 13:00 UTC.
    assert on_call_at(schedule, utc(2026, 3, 6, 14, 0)) == "x"  # 09:00 EST, day 60
    assert on_call_at(schedule, utc(2026, 3, 9, 12, 59)) == "a"  # 08:59 EDT, week 8
    assert on_call_at(schedule, utc(2026, 3, 9, 13, 0)) == "y"  # 09:00 EDT, day 63
    assert on_call_at(schedule, utc(2026, 3, 9, 21, 0)) == "b"  # 17:00 EDT, week 9


@pytest.mark.parametrize(
    ("weekdays", "start", "end", "field"),
    [
        ((), "09:00", "17:00", "weekdays"),
        ((0, 7), "09:00", "17:00", "weekdays"),
        ((0,), "9am", "17:00", "start"),
        ((0,), "17:00", "09:00", "end"),
        ((0,), "09:00", "09:00", "end"),
    ],
)
def test_a_restriction_names_the_field_it_refuses(
    weekdays: tuple[int, ...], start: str, end: str, field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        Restriction(weekdays=weekdays, start=start, end=end)
    assert caught.value.loc == (field,)


def test_a_restriction_from_json_is_located() -> None:
    layer = {"participants": ["x"], "time_zone": "Europe/Berlin", "start": "2026-01-05"}
    window = {"weekdays": [0, 1], "start": "09:00", "end": "17:00"}
    schedule = schedule_from_dict({"id": "s", "layers": [{**layer, "restriction": window}]})
    assert schedule.layers[0].restriction == Restriction((0, 1), "09:00", "17:00")
    broken = {**window, "end": "08:00"}
    with pytest.raises(InvalidInputError) as caught:
        schedule_from_dict({"id": "s", "layers": [{**layer, "restriction": broken}]})
    assert caught.value.loc == ("layers", 0, "restriction", "end")
