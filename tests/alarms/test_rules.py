"""Rules on stepped time: durations, hysteresis, repeats, validation and the JSON form."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from forewarn.alarms.lifecycle import Severity
from forewarn.alarms.rules import DEFAULT_ML_RULE, Action, Rule, evaluate
from forewarn.alarms.state import Reading, RuleState
from forewarn.errors import InvalidInputError
from tests.factories import Clock

HOT = {"id": "hot", "kind": "threshold", "metric": "temperature", "operator": ">", "limit": 80}


def run(rule: Rule, values: Sequence[float | None], step_min: float = 1.0) -> list[Action]:
    """Feed one value a step (None: a silent step) and collect every action but NOTHING."""
    clock, state, actions = Clock(), RuleState(), []
    for value in values:
        seen = None if value is None else Reading(clock.now, value)
        state, decision = evaluate(rule, state, seen, clock.now)
        actions.append(decision.action)
        clock.advance(minutes=step_min)
    return [a for a in actions if a is not Action.NOTHING]


def test_threshold_raises_at_once_and_clears_below_the_limit() -> None:
    rule = Rule.from_dict(HOT)
    assert run(rule, [70, 81, 85, 79]) == [Action.RAISE, Action.CLEAR]


def test_a_spike_shorter_than_the_duration_raises_nothing() -> None:
    rule = Rule.from_dict({**HOT, "for_s": 300})
    assert run(rule, [70, 90, 95, 90, 70, 70]) == []  # 3 minutes above, 5 needed


def test_a_breach_lasting_the_duration_raises_once() -> None:
    rule = Rule.from_dict({**HOT, "for_s": 300})
    actions = run(rule, [70, *[90] * 6])
    assert actions == [Action.RAISE]


def test_a_break_in_the_breach_restarts_the_wait() -> None:
    rule = Rule.from_dict({**HOT, "for_s": 180})
    assert run(rule, [90, 90, 70, 90, 90, 90]) == []
    assert run(rule, [90, 90, 70, 90, 90, 90, 90]) == [Action.RAISE]


@pytest.mark.parametrize(
    ("operator", "values", "expected"),
    [
        (">=", [79, 80, 79], [Action.RAISE, Action.CLEAR]),
        ("<", [81, 79, 80], [Action.RAISE, Action.CLEAR]),
        ("<=", [81, 80, 81], [Action.RAISE, Action.CLEAR]),
        (">", [79, 80, 80], []),
    ],
)
def test_operators(operator: str, values: list[float], expected: list[Action]) -> None:
    assert run(Rule.from_dict({**HOT, "operator": operator}), values) == expected


def test_hovering_at_the_limit_raises_once_with_a_clear_limit() -> None:
    hovering = [80.5, 79.5] * 10
    plain = run(Rule.from_dict(HOT), hovering)
    assert plain.count(Action.RAISE) == 10  # without hysteresis it flaps
    held = run(Rule.from_dict({**HOT, "clear_limit": 75}), [*hovering, 74])
    assert held.count(Action.RAISE) == 1 and held.count(Action.CLEAR) == 1
    assert held.count(Action.REPEAT) == 9  # each return above the limit counts on the alarm
    assert held[-1] is Action.CLEAR


def test_hovering_with_a_clear_duration_raises_once() -> None:
    rule = Rule.from_dict({**HOT, "clear_for_s": 180})
    actions = run(rule, [*[80.5, 79.5] * 10, 70, 70, 70])
    assert actions.count(Action.RAISE) == 1
    assert actions[-1] is Action.CLEAR and actions.count(Action.CLEAR) == 1


def test_repeat_carries_the_rules_severity() -> None:
    rule = Rule.from_dict({**HOT, "clear_limit": 70, "severity": "MAJOR"})
    state, first = evaluate(rule, RuleState(), Reading(0, 90), 0)
    state, _ = evaluate(rule, state, Reading(60_000, 75), 60_000)
    state, again = evaluate(rule, state, Reading(120_000, 95), 120_000)
    assert (first.action, first.severity, first.value) == (Action.RAISE, Severity.MAJOR, 90)
    assert (again.action, again.severity, again.value) == (Action.REPEAT, Severity.MAJOR, 95)
    assert state.raised and state.severity == "MAJOR"


def test_a_timer_tick_does_nothing_to_a_threshold_rule() -> None:
    state, decision = evaluate(Rule.from_dict(HOT), RuleState(), None, 0)
    assert state == RuleState() and decision.action is Action.NOTHING


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"operator": "=="}, "operator"),
        ({"for_s": -1}, "for_s"),
        ({"clear_for_s": math.inf}, "clear_for_s"),
        ({"limit": math.nan}, "limit"),
        ({"limit": "80"}, "limit"),
        ({"metric": ""}, "metric"),
        ({"id": ""}, "id"),
        ({"kind": "vibes"}, "kind"),
        ({"kind": ["threshold"]}, "kind"),
        ({"id": 7}, "id"),
        ({"severity": ["MAJOR"]}, "severity"),
        ({"clear_limit": 85}, "clear_limit"),
        ({"clear_limit": math.nan}, "clear_limit"),
        ({"severity": "HUGE"}, "severity"),
        ({"severity": None}, "severity"),
        ({"colour": "red"}, "colour"),
        ({"kind": "rate", "window_s": 0}, "window_s"),
        ({"kind": "no_data"}, "silence_s"),
        ({"kind": "ml_events", "window_s": 60}, "count"),
        ({"kind": "ml_events", "window_s": 60, "count": 2.5}, "count"),
        ({"kind": "ml_score", "limit": None}, "limit"),
    ],
)
def test_invalid_definitions_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        Rule.from_dict({**HOT, **change})
    assert caught.value.loc == (field,)


def test_a_clear_limit_on_the_release_side_of_a_low_limit_is_accepted() -> None:
    rule = Rule.from_dict({**HOT, "operator": "<", "limit": 10, "clear_limit": 15})
    assert run(rule, [20, 9, 12, 16]) == [Action.RAISE, Action.CLEAR]


def test_rule_json_round_trip() -> None:
    rule = Rule.from_dict({**HOT, "clear_limit": 75, "for_s": 300, "severity": "CRITICAL"})
    assert Rule.from_dict(rule.to_dict()) == rule
    ml = Rule.from_dict({"id": "many", "kind": "ml_events", "count": 3, "window_s": 3600})
    assert Rule.from_dict(ml.to_dict()) == ml and "limit" not in ml.to_dict()


def test_the_documented_examples_are_valid_rules() -> None:
    text = (Path(__file__).parents[2] / "docs" / "alerting.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in text.split("```json\n")[1:]]
    decoder, rules = json.JSONDecoder(), []
    for block in blocks:
        rest = block.strip()
        while rest:  # a block holds several objects, one after the other
            data, end = decoder.raw_decode(rest)
            rules.append(Rule.from_dict(data))
            rest = rest[end:].strip()
    assert [rule.kind for rule in rules] == [
        "threshold", "rate", "no_data", "ml_score", "ml_events", "ml_anomalous",
    ]  # fmt: skip
    assert rules[-1] == DEFAULT_ML_RULE
