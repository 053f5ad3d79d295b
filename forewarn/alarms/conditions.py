"""The rule kinds, as one table: what each observes, which fields it needs, and its condition.

A condition looks at one observation and says two things (`Measure`): whether the alarm's
condition holds (`breached`) and whether it is clearly over (`released`). The two differ on
purpose: between them lies the hysteresis band where a raised alarm stays raised and a quiet
rule stays quiet, so a value hovering at a limit does not flap. `rules.evaluate` adds the
durations on top (`for_s`, `clear_for_s`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from forewarn.alarms.lifecycle import Severity
from forewarn.alarms.state import MlVerdict, Observation, Reading, RuleState
from forewarn.detection.events import severity as score_level

if TYPE_CHECKING:
    from forewarn.alarms.rules import Rule

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}  # fmt: skip
# The level `detection.events.severity` gives a score (one per doubling of the odds above
# the model's threshold) → the alarm's severity. Level 0, a reading inside an excursion but
# no longer above the threshold, is the lowest: it never lowers a raised alarm anyway.
LEVEL_SEVERITY = (
    Severity.WARNING, Severity.WARNING, Severity.MINOR, Severity.MAJOR, Severity.CRITICAL,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Measure:
    """One observation judged: the condition holds, is clearly over, and how bad it is."""

    breached: bool
    released: bool
    severity: Severity | None = None  # None: the rule's own fixed severity
    value: float | None = None
    fresh: bool = False  # a new onset even if the condition held before (a new ML event)


Step = tuple[Measure | None, RuleState]  # None: nothing to judge (e.g. a tick for a threshold)
Condition = Callable[["Rule", RuleState, Observation, int], Step]


def _compare(rule: Rule, value: float, sign: str | None = None) -> Measure:
    """Breached past `limit`; released only past `clear_limit` (the limit if none)."""
    test = OPERATORS[sign or rule.operator]
    release = rule.limit if rule.clear_limit is None else rule.clear_limit
    return Measure(test(value, rule.limit), not test(value, release), value=value)


def threshold(rule: Rule, state: RuleState, seen: Observation, now: int) -> Step:
    """The metric's value against the limit."""
    if not isinstance(seen, Reading):
        return None, state
    return _compare(rule, seen.value), state


def rate(rule: Rule, state: RuleState, seen: Observation, now: int) -> Step:
    """The change per minute between the oldest and newest reading of the window."""
    if not isinstance(seen, Reading):
        return None, state
    since = seen.ts_ms - int(rule.window_s * 1000)
    samples = (*(s for s in state.samples if s[0] >= since), (seen.ts_ms, seen.value))
    state = replace(state, samples=samples)
    (t0, v0), (t1, v1) = samples[0], samples[-1]
    if t1 <= t0:
        return None, state  # one reading is no rate yet
    return _compare(rule, (v1 - v0) / ((t1 - t0) / 60_000)), state


def no_data(rule: Rule, state: RuleState, seen: Observation, now: int) -> Step:
    """Silence: no reading for `silence_s`, checked on a timer; the next reading ends it."""
    if seen is not None:
        # Silence is measured on the clock of the ticks (`now`), not the device's timestamps.
        return Measure(False, True), replace(state, last_seen_ms=now)
    if state.last_seen_ms is None:
        return None, state  # never seen: the caller seeds `last_seen_ms` (e.g. the model's start)
    silent = now - state.last_seen_ms >= rule.silence_s * 1000
    return Measure(silent, not silent), state


def ml_anomalous(rule: Rule, state: RuleState, seen: Observation, now: int) -> Step:
    """The model's own excursion (`anomalous`); a new event inside it is a new onset."""
    if not isinstance(seen, MlVerdict):
        return None, state
    fresh = seen.is_anomaly and seen.event_id != state.event_id
    measure = Measure(seen.anomalous, not seen.anomalous, _level(seen), seen.score, fresh)
    return measure, replace(state, event_id=seen.event_id or state.event_id)


def ml_score(rule: Rule, state: RuleState, seen: Observation, now: int) -> Step:
    """The model's score at or above `limit`, released below `clear_limit`."""
    if not isinstance(seen, MlVerdict):
        return None, state
    measure = _compare(rule, seen.score, ">=")
    return replace(measure, severity=_level(seen)), state


def ml_events(rule: Rule, state: RuleState, seen: Observation, now: int) -> Step:
    """At least `count` anomaly events started within the last `window_s` (sliding)."""
    if seen is not None and not isinstance(seen, MlVerdict):
        return None, state
    at = now if seen is None else seen.ts_ms
    events = state.events
    if seen is not None and seen.is_anomaly:
        events = (*events, seen.ts_ms)
    events = tuple(t for t in events if t > at - rule.window_s * 1000)
    many = len(events) >= rule.count
    level = None if seen is None else _level(seen)
    return Measure(many, not many, level, float(len(events))), replace(state, events=events)


def _level(seen: MlVerdict) -> Severity:
    return LEVEL_SEVERITY[score_level(seen.score, seen.threshold)]


@dataclass(frozen=True, slots=True)
class RuleKind:
    """One kind of rule: its name in JSON, the fields it needs and its condition."""

    name: str
    needs: tuple[str, ...]
    condition: Condition
    ml: bool = False  # observes a model's verdicts; may take its severity from the score


KINDS = {
    kind.name: kind
    for kind in (
        RuleKind("threshold", ("metric", "operator", "limit"), threshold),
        RuleKind("rate", ("metric", "operator", "limit", "window_s"), rate),
        RuleKind("no_data", ("metric", "silence_s"), no_data),
        RuleKind("ml_anomalous", (), ml_anomalous, ml=True),
        RuleKind("ml_score", ("limit",), ml_score, ml=True),
        RuleKind("ml_events", ("count", "window_s"), ml_events, ml=True),
    )
}
