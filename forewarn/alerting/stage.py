"""The alarm stage: each scored series' verdicts through the default ML rule, inside the
pipeline's transaction (a rejected batch writes no alarm and no rule state).

Per batch: the rule states and the open alarms of the batch's series are read in one query
each; per verdict: `evaluate` → raise, repeat or clear through the lifecycle, with audit rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from forewarn.alarms.lifecycle import Alarm, AuditEntry, Severity, clear, raise_or_repeat
from forewarn.alarms.rules import DEFAULT_ML_RULE, Action, Decision, Rule, evaluate
from forewarn.alarms.state import MlVerdict, RuleState
from forewarn.alerting import store
from forewarn.db.models import AlarmRow
from forewarn.pipeline.stages import ScoredSeries
from forewarn.scoring.scorer import Value, Verdict


@dataclass
class _Series:
    """One series' alarm and rule state while its verdicts are walked."""

    key: str
    device_id: uuid.UUID
    metric_name: str
    state: RuleState
    row: AlarmRow | None  # the open alarm, if any


class AlarmStage:
    """Raises, repeats and clears the alarms of the default ML rule on every scored series."""

    def __init__(self, rule: Rule = DEFAULT_ML_RULE) -> None:
        self.rule = rule

    def after_scoring(self, session: Session, scored: Sequence[ScoredSeries]) -> None:
        """Walk each series' verdicts in time order through the rule; write what changed."""
        keys = {store.series_key(s.model.device_id, s.model.metric_name) for s in scored}
        states = store.rule_states(session, self.rule.id, keys)
        alarms = store.open_alarms(session, self.rule.id, keys)
        for series in scored:
            model = series.model
            key = store.series_key(model.device_id, model.metric_name)
            found = states.get(key)
            state = RuleState() if found is None else RuleState.from_json(found.state)
            walk = _Series(key, model.device_id, model.metric_name, state, alarms.get(key))
            for (_ts, value), verdict in zip(series.readings, series.verdicts, strict=True):
                self._observe(session, walk, verdict, model.threshold, value)
            states[key] = store.save_state(session, found, self.rule.id, key, walk.state)
            alarms.pop(key, None)
            if walk.row is not None:
                alarms[key] = walk.row

    def _observe(
        self, session: Session, walk: _Series, verdict: Verdict, threshold: float, value: Value
    ) -> None:
        """One verdict through the rule, and the alarm transition it calls for."""
        seen_ms = walk.state.last_seen_ms
        if verdict.warming_up or (seen_ms is not None and verdict.ts < seen_ms):
            return  # a late reading does not move the series' alarm back in time
        seen = MlVerdict(
            ts_ms=verdict.ts, score=verdict.score, threshold=threshold,
            anomalous=verdict.anomalous, is_anomaly=verdict.is_anomaly,
            event_id=verdict.event_id,
        )  # fmt: skip
        state, decision = evaluate(self.rule, walk.state, seen, verdict.ts)
        walk.state = replace(state, last_seen_ms=verdict.ts)
        if decision.action in (Action.RAISE, Action.REPEAT):
            self._raise(session, walk, decision, verdict, value)
        elif decision.action is Action.CLEAR and walk.row is not None:
            alarm, entry = clear(store.to_alarm(walk.row), now=verdict.ts)
            _write(session, walk.row, alarm, entry)
            session.flush()  # the open index must see it closed before a new raise
            walk.row = None

    def _raise(
        self, session: Session, walk: _Series, decision: Decision, verdict: Verdict, value: Value
    ) -> None:
        """Raise a new alarm, or count a repeat on the open one."""
        current = None if walk.row is None else store.to_alarm(walk.row)
        alarm, entry = raise_or_repeat(
            current, walk.key, self.rule.id, decision.severity or Severity.WARNING,
            now=verdict.ts, value=value if isinstance(value, float) else None,
            event_id=decision.event_id or verdict.event_id,
        )  # fmt: skip
        if walk.row is None:
            walk.row = store.new_row(alarm, walk.device_id, walk.metric_name)
            session.add(walk.row)
            session.flush()  # the alarm row before its audit rows (no ORM relationship)
        _write(session, walk.row, alarm, entry)


def _write(session: Session, row: AlarmRow, alarm: Alarm, entry: AuditEntry) -> None:
    """Apply a transition to the row and record its audit entry."""
    store.update_row(row, alarm)
    session.add(store.audit_row(row.id, entry))
