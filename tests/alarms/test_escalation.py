"""Escalation policies: the walk, loops, acknowledgement, CRITICAL, idempotence and JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from forewarn.alarms.escalation import (
    EscalationPolicy,
    EscalationState,
    Level,
    Target,
    acknowledge,
    due_steps,
    next_due_at,
    next_steps,
    policy_from_dict,
    start,
)
from forewarn.errors import InvalidInputError

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
ANA = (Target("user", "ana"),)
ROTA = (Target("schedule", "plant-a"), Target("channel", "ops-webhook"))
BOSS = (Target("user", "boss"),)


def at(minutes: int) -> datetime:
    """`minutes` after the alarm started."""
    return T0 + timedelta(minutes=minutes)


def policy(num_loops: int = 1, critical_start_level: int = 0) -> EscalationPolicy:
    """Three levels waiting 5, 10 and 15 minutes, walked `num_loops` + 1 times."""
    levels = (Level(ANA, 5), Level(ROTA, 10), Level(BOSS, 15))
    return EscalationPolicy("p", levels, num_loops, critical_start_level)


def walk(
    pol: EscalationPolicy, state: EscalationState, minutes: list[int]
) -> list[tuple[int, ...]]:
    """Ask at each of `minutes`; what was issued as (minute asked, loop, level, due minute)."""
    issued = []
    for minute in minutes:
        steps, state = next_steps(pol, state, at(minute))
        issued += [
            (minute, s.loop, s.level, (s.due_at - T0) // timedelta(minutes=1)) for s in steps
        ]
    return issued


def test_without_ack_the_walk_climbs_loops_and_stops() -> None:
    pol = policy(num_loops=1)
    state = start(pol, T0, severity="warning")
    asked = list(range(0, 200))
    assert walk(pol, state, asked) == [
        (0, 0, 0, 0),
        (5, 0, 1, 5),
        (15, 0, 2, 15),
        (30, 1, 0, 30),
        (35, 1, 1, 35),
        (45, 1, 2, 45),
    ]


def test_the_steps_name_their_targets_and_the_timer_knows_when_to_ask() -> None:
    pol = policy(num_loops=0)
    state = start(pol, T0, severity="warning")
    assert next_due_at(pol, state) == at(0)
    steps, state = next_steps(pol, state, at(6))
    assert [s.targets for s in steps] == [ANA, ROTA]
    assert next_due_at(pol, state) == at(15)
    steps, state = next_steps(pol, state, at(15))
    assert [s.targets for s in steps] == [BOSS]
    assert next_due_at(pol, state) is None
    assert next_steps(pol, state, at(10_000)) == ([], state)


def test_an_acknowledgement_stops_the_walk() -> None:
    pol = policy(num_loops=2)
    state = start(pol, T0, severity="warning")
    steps, state = next_steps(pol, state, at(5))
    assert [s.level for s in steps] == [0, 1]
    state = acknowledge(state, at(7))
    assert next_steps(pol, state, at(500)) == ([], state)
    assert next_due_at(pol, state) is None
    assert acknowledge(state, at(9)).acked_at == at(7)


def test_critical_starts_higher_and_every_loop_starts_there() -> None:
    pol = policy(num_loops=1, critical_start_level=1)
    critical = start(pol, T0, severity="CRITICAL")
    assert walk(pol, critical, list(range(0, 100))) == [
        (0, 0, 1, 0),
        (10, 0, 2, 10),
        (25, 1, 1, 25),
        (35, 1, 2, 35),
    ]
    warning = start(pol, T0, severity="warning")
    assert walk(pol, warning, [0])[0][2] == 0


def test_asking_twice_at_the_same_now_issues_nothing_twice() -> None:
    pol = policy()
    state = start(pol, T0, severity="warning")
    first, state = next_steps(pol, state, at(5))
    again, same = next_steps(pol, state, at(5))
    assert [s.level for s in first] == [0, 1]
    assert again == []
    assert same == state


def test_a_late_timer_gets_every_missed_step_once() -> None:
    pol = policy(num_loops=0)
    state = start(pol, T0, severity="warning")
    assert walk(pol, state, [20, 21]) == [(20, 0, 0, 0), (20, 0, 1, 5), (20, 0, 2, 15)]


def test_the_state_survives_a_json_round_trip_mid_walk() -> None:
    pol = policy()
    state = start(pol, T0, severity="warning")
    _, state = next_steps(pol, state, at(5))
    restored = EscalationState.from_json(json.loads(json.dumps(state.to_json())))
    assert restored == state
    assert walk(pol, restored, [5, 15]) == [(15, 0, 2, 15)]
    acked = acknowledge(restored, at(16))
    assert EscalationState.from_json(json.loads(json.dumps(acked.to_json()))) == acked


def test_due_steps_lists_the_history_cut_at_the_ack() -> None:
    pol = policy()
    assert [s.level for s in due_steps(pol, T0, None, at(15))] == [0, 1, 2]
    # A step due at the instant of the acknowledgement is not sent.
    assert [s.level for s in due_steps(pol, T0, at(5), at(60))] == [0]
    higher = policy(critical_start_level=2)
    critical = due_steps(higher, T0, None, at(15), severity="critical")
    assert [(s.loop, s.level) for s in critical] == [(0, 2), (1, 2)]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: EscalationPolicy("p", ()), "levels"),
        (lambda: EscalationPolicy("p", (Level(ANA, 5),), num_loops=-1), "num_loops"),
        (
            lambda: EscalationPolicy("p", (Level(ANA, 5),), critical_start_level=1),
            "critical_start_level",
        ),
        (lambda: Level((), 5), "targets"),
        (lambda: Level(ANA, 0), "escalation_delay_in_minutes"),
        (lambda: Target("pager", "x"), "kind"),  # type: ignore[arg-type]
        (lambda: Target("user", ""), "id"),
        (lambda: start(policy(), datetime(2026, 1, 5), "warning"), "alarm_started_utc"),
    ],
)
def test_policies_name_the_field_they_refuse(build: object, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.loc == (field,)


def test_a_state_is_refused_for_another_policy_or_a_broken_json() -> None:
    state = start(policy(), T0, severity="warning")
    other = EscalationPolicy("q", (Level(ANA, 5),))
    with pytest.raises(InvalidInputError) as caught:
        next_steps(other, state, at(0))
    assert caught.value.loc == ("policy_id",)
    broken = {**state.to_json(), "issued": -1}
    with pytest.raises(InvalidInputError) as caught:
        EscalationState.from_json(broken)
    assert caught.value.loc == ("issued",)
    naive = {**state.to_json(), "started_at": "2026-01-05T08:00:00"}
    with pytest.raises(InvalidInputError) as caught:
        EscalationState.from_json(naive)
    assert caught.value.loc == ("started_at",)


def test_a_policy_from_json_and_its_refusals_located() -> None:
    data = {
        "id": "p",
        "num_loops": 1,
        "critical_start_level": 1,
        "levels": [
            {"targets": [{"kind": "user", "id": "ana"}], "escalation_delay_in_minutes": 5},
            {
                "targets": [
                    {"kind": "schedule", "id": "plant-a"},
                    {"kind": "channel", "id": "ops-webhook"},
                ],
                "escalation_delay_in_minutes": 10,
            },
            {"targets": [{"kind": "user", "id": "boss"}], "escalation_delay_in_minutes": 15},
        ],
    }
    assert policy_from_dict(data) == policy(num_loops=1, critical_start_level=1)
    data["levels"][1]["targets"][1]["kind"] = "pager"  # type: ignore[index]
    with pytest.raises(InvalidInputError) as caught:
        policy_from_dict(data)
    assert caught.value.loc == ("levels", 1, "targets", 1, "kind")
    data["levels"][1]["targets"][1]["kind"] = "channel"  # type: ignore[index]
    data["levels"][2]["escalation_delay_in_minutes"] = 0  # type: ignore[index]
    with pytest.raises(InvalidInputError) as caught:
        policy_from_dict(data)
    assert caught.value.loc == ("levels", 2, "escalation_delay_in_minutes")
