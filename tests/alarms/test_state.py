"""`RuleState` through JSON, as the database will store it between readings."""

from __future__ import annotations

import json

import pytest

from forewarn.alarms.rules import Rule, evaluate
from forewarn.alarms.state import Reading, RuleState
from forewarn.errors import InvalidInputError


def test_a_live_state_round_trips_and_evaluates_the_same() -> None:
    rule = Rule.from_dict({"id": "r", "kind": "rate", "metric": "t", "operator": ">",
                           "limit": 1.0, "window_s": 600, "for_s": 120})  # fmt: skip
    state = RuleState()
    for minute, value in enumerate((10.0, 12.0, 15.0)):
        state, _ = evaluate(rule, state, Reading(minute * 60_000, value), minute * 60_000)
    assert state.pending_ms == 60_000 and len(state.samples) == 3
    stored = RuleState.from_json(state.to_json())
    assert stored == state
    follow = Reading(180_000, 19.0)
    assert evaluate(rule, stored, follow, 180_000) == evaluate(rule, state, follow, 180_000)


def test_every_field_survives() -> None:
    state = RuleState(True, "MAJOR", True, 1, 2, 3, ((4, 5.5),), (6, 7), "e")
    assert RuleState.from_json(state.to_json()) == state
    assert json.loads(state.to_json())["samples"] == [[4, 5.5]]


@pytest.mark.parametrize(
    ("text", "loc"),
    [
        ("{not json", ("state",)),
        ('{"raised": true, "mood": 1}', ("state", "mood")),
        ('{"samples": [[1]]}', ("state", "samples")),
        ('{"events": ["soon"]}', ("state", "events")),
        ('{"raised": "yes"}', ("state", "raised")),
        ('{"pending_ms": true}', ("state", "pending_ms")),
        ("[]", ("state",)),
    ],
)
def test_malformed_state_is_refused(text: str, loc: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInputError) as caught:
        RuleState.from_json(text)
    assert caught.value.loc == loc
