"""The JSON examples of docs/oncall.md are read by the code and mean what the page says."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forewarn.alarms.escalation import EscalationState, next_steps, policy_from_dict
from forewarn.alarms.oncall import on_call_at, schedule_from_dict

PAGE = Path(__file__).resolve().parents[2] / "docs" / "oncall.md"


def examples() -> list[Any]:
    """Every ```json block of the page, parsed, in order."""
    text = PAGE.read_text(encoding="utf-8")
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def test_the_schedule_policy_and_state_examples_load() -> None:
    schedule_data, policy_data, state_data = examples()
    schedule = schedule_from_dict(schedule_data)
    assert on_call_at(schedule, datetime(2026, 1, 5, 8, 0, tzinfo=UTC)) == "u-dan"
    assert on_call_at(schedule, datetime(2026, 1, 5, 16, 0, tzinfo=UTC)) == "u-ana"
    assert on_call_at(schedule, datetime(2026, 1, 6, 7, 0, tzinfo=UTC)) == "u-fay"
    policy = policy_from_dict(policy_data)
    state = EscalationState.from_json(state_data)
    steps, _ = next_steps(policy, state, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    assert [(step.loop, step.level) for step in steps] == [(1, 1), (1, 2)]
