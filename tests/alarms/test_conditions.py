"""Each rule kind's condition through `evaluate`: rate, no data, the ML rules, the default."""

from __future__ import annotations

import pytest

from forewarn.alarms.lifecycle import Severity
from forewarn.alarms.rules import DEFAULT_ML_RULE, Action, Decision, Rule, evaluate
from forewarn.alarms.state import MlVerdict, Observation, Reading, RuleState
from tests.factories import Clock

THRESHOLD = 0.5  # the model's threshold in the ML cases


class Feeder:
    """One rule on one series, fed at the clock's time."""

    def __init__(self, rule: Rule) -> None:
        self.rule, self.state, self.clock = rule, RuleState(), Clock()

    def see(self, seen: Observation) -> Decision:
        self.state, decision = evaluate(self.rule, self.state, seen, self.clock.now)
        return decision

    def value(self, value: float, *, after_min: float = 1.0) -> Action:
        self.clock.advance(minutes=after_min)
        return self.see(Reading(self.clock.now, value)).action

    def tick(self, *, after_min: float) -> Action:
        self.clock.advance(minutes=after_min)
        return self.see(None).action

    def verdict(self, score: float, anomalous: bool, *, event: str | None = None) -> Decision:
        self.clock.advance(minutes=5)
        verdict = MlVerdict(self.clock.now, score, THRESHOLD, anomalous, event is not None, event)
        return self.see(verdict)


def test_rate_of_change_per_minute_over_the_window() -> None:
    rule = Rule.from_dict({"id": "r", "kind": "rate", "metric": "temp", "operator": ">",
                           "limit": 2.0, "window_s": 300})  # fmt: skip
    feeder = Feeder(rule)
    assert feeder.value(20.0) is Action.NOTHING  # one reading is no rate
    assert [feeder.value(v) for v in (21.0, 22.0, 23.0)] == [Action.NOTHING] * 3  # 1 °C/min
    assert feeder.value(35.0) is Action.RAISE  # 15 °C in 4 minutes
    assert feeder.state.samples[0][1] == 20.0
    for _ in range(5):
        feeder.value(35.0)  # the window slides past the climb
    assert feeder.state.samples[0][1] == 35.0
    assert not feeder.state.raised


def test_rate_falling_fast() -> None:
    rule = Rule.from_dict({"id": "r", "kind": "rate", "metric": "p", "operator": "<",
                           "limit": -5.0, "window_s": 120})  # fmt: skip
    feeder = Feeder(rule)
    actions = [feeder.value(v) for v in (100.0, 99.0, 80.0, 80.0, 80.0)]
    assert actions == [Action.NOTHING, Action.NOTHING, Action.RAISE, Action.NOTHING, Action.CLEAR]


def test_no_data_after_the_silence_and_cleared_by_the_next_reading() -> None:
    rule = Rule.from_dict({"id": "quiet", "kind": "no_data", "metric": "temp", "silence_s": 600})
    feeder = Feeder(rule)
    assert feeder.tick(after_min=60) is Action.NOTHING  # never seen: nothing to measure from
    feeder.value(20.0)
    assert feeder.tick(after_min=9) is Action.NOTHING
    assert feeder.tick(after_min=1) is Action.RAISE
    assert feeder.tick(after_min=5) is Action.NOTHING  # still silent: one alarm
    assert feeder.value(20.0) is Action.CLEAR
    assert feeder.tick(after_min=9) is Action.NOTHING


def test_ml_anomalous_raises_while_in_the_excursion() -> None:
    rule = Rule.from_dict({"id": "ml", "kind": "ml_anomalous", "severity": "MAJOR"})
    feeder = Feeder(rule)
    assert feeder.verdict(0.2, False).action is Action.NOTHING
    raised = feeder.verdict(0.9, True, event="e1")
    assert (raised.action, raised.severity, raised.event_id) == (Action.RAISE, Severity.MAJOR, "e1")
    assert feeder.verdict(0.4, True).action is Action.NOTHING  # still inside the excursion
    again = feeder.verdict(0.9, True, event="e2")  # the tracker opened another event
    assert (again.action, again.event_id) == (Action.REPEAT, "e2")
    assert feeder.verdict(0.1, False).action is Action.CLEAR


def test_ml_score_at_or_above_s() -> None:
    rule = Rule.from_dict({"id": "s", "kind": "ml_score", "limit": 0.8, "clear_limit": 0.6,
                           "severity": "MINOR"})  # fmt: skip
    feeder = Feeder(rule)
    actions = [feeder.verdict(s, s > THRESHOLD).action for s in (0.7, 0.8, 0.7, 0.85, 0.5)]
    assert actions == [Action.NOTHING, Action.RAISE, Action.NOTHING, Action.REPEAT, Action.CLEAR]


def test_n_events_within_t_sliding() -> None:
    rule = Rule.from_dict({"id": "n", "kind": "ml_events", "count": 3, "window_s": 3600,
                           "severity": "MAJOR"})  # fmt: skip
    feeder = Feeder(rule)
    for name in ("a", "b"):
        assert feeder.verdict(0.9, True, event=name).action is Action.NOTHING
        feeder.clock.advance(minutes=25)
    assert feeder.verdict(0.9, True, event="c").action is Action.NOTHING  # "a" left the hour
    assert feeder.verdict(0.9, True, event="d").action is Action.RAISE  # b, c, d
    assert feeder.tick(after_min=30) is Action.CLEAR  # the window slid past b and c


def test_default_ml_rule_takes_its_severity_from_the_score() -> None:
    feeder = Feeder(DEFAULT_ML_RULE)
    first = feeder.verdict(0.6, True, event="e1")  # odds 1.5 against 1: level 1
    assert (first.action, first.severity) == (Action.RAISE, Severity.WARNING)
    worse = feeder.verdict(0.85, True)  # odds 5.7: level 3
    assert (worse.action, worse.severity) == (Action.REPEAT, Severity.MAJOR)
    assert feeder.verdict(0.7, True).action is Action.NOTHING  # severity never falls
    assert feeder.state.severity == "MAJOR"
    top = feeder.verdict(0.999, True)
    assert (top.action, top.severity) == (Action.REPEAT, Severity.CRITICAL)
    assert feeder.verdict(0.3, False).action is Action.CLEAR


@pytest.mark.parametrize(
    ("score", "severity"),
    [(0.45, Severity.WARNING), (0.55, Severity.WARNING), (0.7, Severity.MINOR),
     (0.85, Severity.MAJOR), (0.95, Severity.CRITICAL)],
)  # fmt: skip
# threshold 0.5 (odds 1): 0.45 is inside the excursion but not above it (level 0), 0.55 odds
# 1.2 (level 1), 0.7 odds 2.3 (level 2), 0.85 odds 5.7 (level 3), 0.95 odds 19 (level 4)
def test_default_ml_rule_severity_mapping(score: float, severity: Severity) -> None:
    decision = Feeder(DEFAULT_ML_RULE).verdict(score, True, event="e")
    assert decision.severity is severity


def test_default_ml_rule_ignores_plain_readings() -> None:
    state, decision = evaluate(DEFAULT_ML_RULE, RuleState(), Reading(0, 1e9), 0)
    assert decision.action is Action.NOTHING and state == RuleState()
