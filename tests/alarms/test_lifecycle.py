"""The alarm lifecycle: every path, illegal transitions, repeats and rising severity."""

from __future__ import annotations

import pytest

from forewarn.alarms.lifecycle import (
    Alarm,
    Severity,
    Status,
    acknowledge,
    assign,
    clear,
    comment,
    raise_alarm,
    raise_or_repeat,
    repeat,
)
from forewarn.errors import InvalidInputError
from tests.factories import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


def raised(clock: Clock, severity: Severity = Severity.MINOR) -> Alarm:
    return raise_alarm("series-1", "hot", severity, now=clock.now, value=81.0, event_id="e1")[0]


def test_raise_opens_an_unacknowledged_active_alarm(clock: Clock) -> None:
    alarm, entry = raise_alarm("series-1", "hot", Severity.MAJOR, now=clock.now, value=81.0)
    assert (alarm.status, alarm.severity, alarm.start_ms, alarm.end_ms) == (
        Status.ACTIVE_UNACK, Severity.MAJOR, clock.now, clock.now,
    )  # fmt: skip
    assert alarm.active and not alarm.acknowledged and alarm.repeats == 0
    assert (entry.action, entry.before, entry.after, entry.at_ms) == (
        "raise", None, "ACTIVE_UNACK", clock.now,
    )  # fmt: skip


def test_acknowledge_then_clear(clock: Clock) -> None:
    alarm = raised(clock)
    acked, entry = acknowledge(alarm, actor="ann", now=clock.advance(minutes=1))
    assert acked.status is Status.ACTIVE_ACK and acked.ack_ms == clock.now
    assert (entry.actor, entry.before, entry.after) == ("ann", "ACTIVE_UNACK", "ACTIVE_ACK")
    closed, entry = clear(acked, now=clock.advance(minutes=1))
    assert closed.status is Status.CLEARED_ACK and closed.clear_ms == clock.now
    assert (entry.actor, entry.before, entry.after) == ("system", "ACTIVE_ACK", "CLEARED_ACK")
    assert not closed.active


def test_clear_then_acknowledge(clock: Clock) -> None:
    cleared, entry = clear(raised(clock), now=clock.advance(minutes=3))
    assert cleared.status is Status.CLEARED_UNACK and not cleared.active
    assert (entry.before, entry.after) == ("ACTIVE_UNACK", "CLEARED_UNACK")
    closed, entry = acknowledge(cleared, actor="bob", now=clock.advance(minutes=1))
    assert closed.status is Status.CLEARED_ACK and closed.acknowledged
    assert (entry.before, entry.after, entry.actor) == ("CLEARED_UNACK", "CLEARED_ACK", "bob")


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        (("ack",), "ack"),
        (("clear",), "clear"),
        (("ack", "clear"), "ack"),
        (("ack", "clear"), "clear"),
        (("clear", "ack"), "ack"),
        (("clear", "ack"), "clear"),
    ],
)
def test_illegal_transitions_name_the_status(  # twice the same step, or anything once closed
    clock: Clock, path: tuple[str, ...], illegal: str
) -> None:
    steps = {
        "ack": lambda a: acknowledge(a, actor="ann", now=clock.advance(minutes=1)),
        "clear": lambda a: clear(a, now=clock.advance(minutes=1)),
    }
    alarm = raised(clock)
    for step in path:
        alarm = steps[step](alarm)[0]
    with pytest.raises(InvalidInputError) as caught:
        steps[illegal](alarm)
    assert caught.value.loc == ("status",)


def test_repeat_counts_on_the_open_alarm_and_severity_only_rises(clock: Clock) -> None:
    alarm = raised(clock, Severity.MAJOR)
    alarm, entry = raise_or_repeat(
        alarm, "series-1", "hot", Severity.MINOR, now=clock.advance(minutes=1), value=82.0
    )
    assert (alarm.repeats, alarm.severity, alarm.last_value) == (1, Severity.MAJOR, 82.0)
    assert (entry.action, entry.before, entry.after) == ("repeat", "MAJOR", "MAJOR")
    alarm, entry = repeat(alarm, Severity.CRITICAL, now=clock.advance(minutes=1), value=95.0)
    assert (alarm.repeats, alarm.severity, alarm.end_ms) == (2, Severity.CRITICAL, clock.now)
    assert (entry.before, entry.after) == ("MAJOR", "CRITICAL")
    assert alarm.start_ms == clock.now - 120_000 and alarm.event_id == "e1"


def test_a_raise_after_the_clear_opens_a_new_alarm(clock: Clock) -> None:
    cleared, _ = clear(raised(clock), now=clock.advance(minutes=1))
    fresh, entry = raise_or_repeat(
        cleared, "series-1", "hot", Severity.WARNING, now=clock.advance(minutes=1)
    )
    assert entry.action == "raise" and fresh.repeats == 0 and fresh.start_ms == clock.now
    with pytest.raises(InvalidInputError) as caught:
        repeat(cleared, Severity.MAJOR, now=clock.now)
    assert caught.value.loc == ("status",)


def test_repeat_refuses_another_originators_alarm(clock: Clock) -> None:
    with pytest.raises(InvalidInputError) as caught:
        raise_or_repeat(raised(clock), "series-2", "hot", Severity.MINOR, now=clock.now)
    assert caught.value.loc == ("open_alarm",)


def test_assign_and_unassign(clock: Clock) -> None:
    alarm, entry = assign(raised(clock), "ann", actor="lead", now=clock.advance(minutes=1))
    assert alarm.assignee == "ann" and (entry.field, entry.before, entry.after) == (
        "assignee", None, "ann",
    )  # fmt: skip
    alarm, entry = assign(alarm, None, actor="lead", now=clock.advance(minutes=1))
    assert alarm.assignee is None and (entry.before, entry.after) == ("ann", None)
    with pytest.raises(InvalidInputError) as caught:
        assign(alarm, "  ", actor="lead", now=clock.now)
    assert caught.value.loc == ("assignee",)


def test_a_closed_alarm_is_not_reassigned(clock: Clock) -> None:
    closed = clear(acknowledge(raised(clock), actor="a", now=clock.now)[0], now=clock.now)[0]
    with pytest.raises(InvalidInputError) as caught:
        assign(closed, "ann", actor="lead", now=clock.now)
    assert caught.value.loc == ("status",)


def test_comment_keeps_the_alarm_and_records_the_text(clock: Clock) -> None:
    alarm = raised(clock)
    same, entry = comment(alarm, "bearing replaced", actor="ann", now=clock.advance(minutes=5))
    assert same == alarm
    assert (entry.action, entry.actor, entry.after, entry.at_ms) == (
        "comment", "ann", "bearing replaced", clock.now,
    )  # fmt: skip
    with pytest.raises(InvalidInputError) as caught:
        comment(alarm, " ", actor="ann", now=clock.now)
    assert caught.value.loc == ("comment",)


def test_times_before_the_start_are_refused(clock: Clock) -> None:
    alarm = raised(clock)
    with pytest.raises(InvalidInputError) as caught:
        acknowledge(alarm, actor="ann", now=clock.now - 1)
    assert caught.value.loc == ("now",)


@pytest.mark.parametrize("field", ["originator", "rule_id"])
def test_raise_names_an_empty_key(clock: Clock, field: str) -> None:
    keys = {"originator": "s", "rule_id": "r", field: ""}
    with pytest.raises(InvalidInputError) as caught:
        raise_alarm(keys["originator"], keys["rule_id"], Severity.MINOR, now=clock.now)
    assert caught.value.loc == (field,)


def test_severities_are_ordered() -> None:
    assert sorted(Severity, reverse=True) == [
        Severity.CRITICAL, Severity.MAJOR, Severity.MINOR, Severity.WARNING,
        Severity.INDETERMINATE,
    ]  # fmt: skip
