"""Alarm rules: their definition (validated, from and to JSON), the default ML rule, and the
pure `evaluate` that turns one observation into a decision: raise, repeat, clear or nothing.

On top of each kind's condition (`conditions.py`) sit two durations: a breach must hold for
`for_s` before it raises (a shorter spike raises nothing), and a raised alarm clears once its
release condition has held for `clear_for_s`. While raised, the condition firing again (it had
stopped, inside the hysteresis band, and is back; or the model opened a new event) or getting
worse (a higher severity) is a repeat: the caller counts it on the open alarm.

>>> rule = Rule.from_dict({"id": "hot", "kind": "threshold", "metric": "temperature",
...                        "operator": ">", "limit": 80, "clear_limit": 75, "for_s": 300})
>>> state, decision = evaluate(rule, RuleState(), Reading(0, 81.0), now=0)
>>> decision.action.name, evaluate(rule, state, Reading(300_000, 82.0), now=300_000)[1].action.name
('NOTHING', 'RAISE')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from typing import Any

from forewarn.alarms.conditions import KINDS, OPERATORS, Measure
from forewarn.alarms.lifecycle import Severity
from forewarn.alarms.state import MlVerdict, Observation, Reading, RuleState
from forewarn.errors import InvalidInputError

__all__ = ["DEFAULT_ML_RULE", "Action", "Decision", "Reading", "Rule", "RuleState", "evaluate"]
DURATIONS = ("for_s", "clear_for_s", "window_s", "silence_s")


def _number(value: object) -> bool:
    """None (absent) or a real number; booleans are not numbers here."""
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _check(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise InvalidInputError((field,), f"{field} {message}")


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule definition; which fields matter depends on its kind (`conditions.KINDS`)."""

    id: str
    kind: str
    metric: str = ""
    operator: str = ">"
    limit: float = math.nan
    clear_limit: float | None = None  # the release level (hysteresis); the limit if None
    for_s: float = 0.0  # the breach must last this long before it raises
    clear_for_s: float = 0.0  # the release must last this long before it clears
    window_s: float = 0.0  # rate and event-count rules look this far back
    silence_s: float = 0.0  # no-data rules: silent this long raises
    count: int = 0  # event-count rules: this many events within the window
    severity: Severity | None = Severity.WARNING  # None: from the model's score (ML rules)

    def __post_init__(self) -> None:
        """Refuse a definition that cannot work, naming the field."""
        _check(bool(self.id), "id", "must not be empty")
        _check(self.kind in KINDS, "kind", f"must be one of {sorted(KINDS)}")
        kind = KINDS[self.kind]
        _check(self.operator in OPERATORS, "operator", f"must be one of {list(OPERATORS)}")
        _check(bool(self.metric) or "metric" not in kind.needs, "metric", "must not be empty")
        _check(math.isfinite(self.limit) or "limit" not in kind.needs, "limit", "must be finite")
        for name in DURATIONS:
            value = getattr(self, name)
            _check(math.isfinite(value) and value >= 0, name, "must be a duration >= 0 seconds")
            _check(value > 0 or name not in kind.needs, name, "must be > 0")
        _check(isinstance(self.count, int), "count", "must be a whole number")
        _check(self.count >= 1 or "count" not in kind.needs, "count", "must be >= 1")
        _check(self.severity is not None or kind.ml, "severity", "only ML rules may omit it")
        if self.clear_limit is not None:
            self._check_clear_limit(self.clear_limit)

    def _check_clear_limit(self, clear_limit: float) -> None:
        """The release level lies on the safe side of the limit, else nothing would clear."""
        _check(math.isfinite(clear_limit), "clear_limit", "must be finite")
        upward = self.kind == "ml_score" or self.operator in (">", ">=")
        safe = clear_limit <= self.limit if upward else clear_limit >= self.limit
        _check(safe, "clear_limit", f"must lie on the release side of the limit {self.limit}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """A rule from its JSON object; unknown keys and wrong types are refused by name."""
        known = {f.name for f in fields(cls)}
        for key in data:
            _check(key in known, str(key), "unknown field")
        values = dict(data)
        for key in ("id", "kind", "metric", "operator"):
            _check(isinstance(values.get(key, ""), str), key, "must be a string")
        if values.get("severity") is not None:
            name = values["severity"]
            _check(
                isinstance(name, str) and name in Severity.__members__,
                "severity",
                f"must be one of {list(Severity.__members__)}",
            )
            values["severity"] = Severity[name]
        for key in ("limit", "clear_limit", "count", *DURATIONS):
            _check(_number(values.get(key)), key, "must be a number")
        for key in ("limit", *DURATIONS):
            if key in values and values[key] is None:
                del values[key]  # absent: the default
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The rule as its JSON object (`from_dict` reads it back)."""
        data = asdict(self)
        data["severity"] = None if self.severity is None else self.severity.name
        if math.isnan(self.limit):
            del data["limit"]  # JSON has no NaN: an unset limit is left out
        return data


# Every active model gets this rule out of the box: raise while the model's event tracker says
# the series is in an excursion, severity from the score's level (`conditions.LEVEL_SEVERITY`),
# clear as soon as the excursion ends (the tracker's own hysteresis already holds it open).
DEFAULT_ML_RULE = Rule(id="ml-default", kind="ml_anomalous", severity=None)


class Action(Enum):
    """What the caller does with the rule's alarm."""

    NOTHING = "nothing"
    RAISE = "raise"
    REPEAT = "repeat"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one evaluation: the action and, for raise/repeat, the severity."""

    action: Action
    severity: Severity | None = None
    value: float | None = None
    event_id: str | None = None


NOTHING = Decision(Action.NOTHING)


def evaluate(
    rule: Rule, state: RuleState, seen: Observation, now: int
) -> tuple[RuleState, Decision]:
    """The rule's next state and decision on `seen` (None: a timer tick) at `now` (ms)."""
    measure, state = KINDS[rule.kind].condition(rule, state, seen, now)
    if measure is None:
        return state, NOTHING
    event = seen.event_id if isinstance(seen, MlVerdict) else None
    severity = rule.severity or measure.severity or Severity.WARNING
    if state.raised:
        return _while_raised(rule, state, measure, severity, now, event)
    return _while_quiet(rule, state, measure, severity, now, event)


def _while_quiet(
    rule: Rule, state: RuleState, measure: Measure, severity: Severity, now: int, event: str | None
) -> tuple[RuleState, Decision]:
    """Raise once the breach has lasted `for_s`; a break in it starts the wait again."""
    if not measure.breached:
        return replace(state, breached=False, pending_ms=None), NOTHING
    since = now if state.pending_ms is None else state.pending_ms
    if now - since < rule.for_s * 1000:
        return replace(state, breached=True, pending_ms=since), NOTHING
    raised = replace(state, raised=True, severity=severity.name, breached=True, pending_ms=None)
    return raised, Decision(Action.RAISE, severity, measure.value, event)


def _while_raised(
    rule: Rule, state: RuleState, measure: Measure, severity: Severity, now: int, event: str | None
) -> tuple[RuleState, Decision]:
    """Clear once released for `clear_for_s`; repeat on a new onset or a worse severity."""
    calm = None
    if measure.released:
        calm = now if state.calm_ms is None else state.calm_ms
        if now - calm >= rule.clear_for_s * 1000:
            quiet = replace(state, raised=False, severity=None, breached=False, calm_ms=None)
            return quiet, Decision(Action.CLEAR, value=measure.value)
    current = Severity[state.severity or Severity.WARNING.name]
    worse = max(current, severity)
    onset = measure.breached and (not state.breached or measure.fresh or worse > current)
    new = replace(state, breached=measure.breached, calm_ms=calm, severity=worse.name)
    if onset:
        return new, Decision(Action.REPEAT, worse, measure.value, event)
    return new, NOTHING
