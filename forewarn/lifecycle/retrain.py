"""Retrain one series: fit a challenger like the champion on the latest window (confirmed
incidents left out), replay both on the held-out most recent readings, then promote the
challenger or keep it as a rejected candidate with the reason.

What is promoted is exactly what was tested: the challenger learns from the window that ends
where the held-out readings begin, and is not refitted afterwards.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from forewarn.db.models import MLModel
from forewarn.db.types import utcnow
from forewarn.detection.registry import algorithm
from forewarn.errors import ForewarnError
from forewarn.lifecycle.challenger import (
    MIN_HOLDOUT_ROWS,
    Backtest,
    Readings,
    backtest,
    decisions,
    judge,
)
from forewarn.lifecycle.feedback import confirmed_windows, false_positive_times
from forewarn.lifecycle.quality import knob, suggestion
from forewarn.lifecycle.training import DAY_MS, Fitted, TrainSpec, fit_model, store_model
from forewarn.scoring.latency import metrics_row
from forewarn.scoring.registry import ActiveModel, ModelRegistry
from forewarn.scoring.scorer import Scorer
from forewarn.telemetry.query import latest_ts, read_aligned

_LOGGER = logging.getLogger(__name__)
DEFAULT_WINDOW_DAYS = 7


@dataclass(frozen=True)
class RetrainPolicy:
    """The settings retraining follows (FOREWARN_RETRAIN_*, auto-tuning, feedback window)."""

    window_days: int | None  # None: the champion's own training window
    holdout_days: float
    auto_tune: bool
    feedback_window_minutes: int


@dataclass(frozen=True)
class Retrainer:
    """What retraining uses: sessions, the registry and artifact key, the scorer, the policy."""

    sessions: sessionmaker[Session]
    registry: ModelRegistry
    artifact_key: bytes
    scorer: Scorer
    policy: RetrainPolicy


@dataclass(frozen=True)
class Outcome:
    """What retraining one series did."""

    device_id: uuid.UUID
    metric_name: str
    champion_id: uuid.UUID
    candidate_id: uuid.UUID | None  # None on a dry run or an error
    promoted: bool
    reason: str | None  # why the candidate was rejected, or what went wrong
    evaluation: dict[str, Any] | None


@dataclass(frozen=True)
class Plan:
    """The windows of one retraining: held-out readings, feedback and the training spec."""

    held_from: int
    held_to: int
    windows: list[tuple[int, int]]
    false_ts: list[int]
    spec: TrainSpec


def _read(
    session: Session, model: ActiveModel, metrics: tuple[str, ...], a: int, b: int
) -> Readings:
    ts, values = read_aligned(session, model.device_id, metrics, a, b)
    return Readings(ts, values.reshape(-1) if len(metrics) == 1 else values)


def _spec(
    session: Session,
    policy: RetrainPolicy,
    champion: MLModel,
    end_ms: int,
    exclude: list[tuple[int, int]],
) -> TrainSpec:
    """The champion's algorithm and parameters, on the window ending at `end_ms`."""
    params = dict(champion.parameters)
    accepted = algorithm(champion.algorithm).parameters
    days = policy.window_days or int(params.get("training_window_days", DEFAULT_WINDOW_DAYS))
    return TrainSpec(
        device_id=champion.device_id,
        metric_name=champion.metric_name,
        window_days=days,
        end_ms=end_ms,
        algorithm=champion.algorithm,
        seed=int(params.get("seed", 0)),
        params={
            **{k: v for k, v in params.items() if k in accepted},
            **tuned_params(session, policy, champion),
        },
        exclude_ms=tuple(exclude),
    )


def tuned_params(session: Session, policy: RetrainPolicy, champion: MLModel) -> dict[str, float]:
    """With auto-tuning on, the champion's suggested parameter where it applies at refit."""
    if not policy.auto_tune or knob(champion.algorithm).live:
        return {}
    found = suggestion(session, champion)
    return {found.parameter: found.suggested} if found.silenced else {}


def plan_retraining(
    session: Session, policy: RetrainPolicy, champion: MLModel, active: ActiveModel
) -> Plan:
    """Where the held-out readings start, the feedback windows and the challenger's spec."""
    ends = [latest_ts(session, champion.device_id, m) for m in active.metrics]
    if any(e is None for e in ends):
        raise ForewarnError("the series has no readings")
    held_to = min(e for e in ends if e is not None)
    held_from = held_to - int(policy.holdout_days * DAY_MS) + 1
    device, metric = champion.device_id, champion.metric_name
    windows = confirmed_windows(session, device, metric, policy.feedback_window_minutes)
    false_ts = false_positive_times(session, device, metric)
    spec = _spec(session, policy, champion, held_from - 1, windows)
    return Plan(held_from, held_to, windows, false_ts, spec)


def _replay(
    session: Session,
    registry: ModelRegistry,
    champion: ActiveModel,
    plan: Plan,
    fitted: Fitted,
) -> tuple[Backtest, Backtest]:
    """Both models over the held-out readings, primed on the challenger's training readings
    (read again for the champion only if its metrics differ, e.g. a device gained one)."""
    metrics = tuple(fitted.detector.params().get("metrics") or champion.metrics)
    history = Readings(fitted.ts, fitted.values)
    held = _read(session, champion, metrics, plan.held_from, plan.held_to)
    own_history, own_held = history, held
    if metrics != champion.metrics:
        start = int(fitted.ts[0])
        own_history = _read(session, champion, champion.metrics, start, plan.held_from - 1)
        own_held = _read(session, champion, champion.metrics, plan.held_from, plan.held_to)
    old = decisions(registry.detector(champion), champion.threshold, own_history, own_held)
    new = decisions(fitted.detector, fitted.detector.threshold_, history, held)
    return (
        backtest(old, own_held.ts, plan.windows, plan.false_ts),
        backtest(new, held.ts, plan.windows, plan.false_ts),
    )


def _verdict(
    plan: Plan,
    fitted: Fitted,
    old: Backtest,
    new: Backtest,
    champion: MLModel,
    holdout_days: float,
) -> tuple[str | None, dict[str, Any]]:
    """Why the challenger is rejected (None: promote it), and the figures behind it."""
    reason = judge(old, new)
    if new.rows < MIN_HOLDOUT_ROWS:
        reason = (
            f"only {new.rows} readings in the held-out last {holdout_days:g} days; "
            f"{MIN_HOLDOUT_ROWS} are needed to compare"
        )
    evaluation = {
        "held_out": {"from": plan.held_from, "to": plan.held_to},
        "excluded_windows": [list(w) for w in plan.windows],
        "training_readings": len(fitted.ts),
        "params": dict(plan.spec.params),
        "champion": {"id": str(champion.id), **old.as_dict()},
        "challenger": new.as_dict(),
    }
    return reason, evaluation


def retrain_series(
    retrainer: Retrainer,
    champion_id: uuid.UUID,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> Outcome:
    """Retrain one active model's series; a failure is reported in the outcome."""
    with retrainer.sessions() as session:
        champion = session.get(MLModel, champion_id)
        if champion is None or not champion.is_active:
            return Outcome(uuid.UUID(int=0), "", champion_id, None, False, "not active", None)
        series = (champion.device_id, champion.metric_name, champion.id)
        try:
            return _retrain(session, retrainer, champion, dry_run, now or utcnow())
        except ForewarnError as err:
            session.rollback()
            _LOGGER.warning("retraining %s failed: %s", series[1], err)
            if not dry_run:  # not tried again before its next scheduled time
                champion.retrained_at = now or utcnow()
                session.commit()
            return Outcome(*series, None, False, f"failed: {err}", None)


def _retrain(
    session: Session, retrainer: Retrainer, champion: MLModel, dry_run: bool, now: datetime
) -> Outcome:
    active = ActiveModel.from_row(champion)
    plan = plan_retraining(session, retrainer.policy, champion, active)
    fitted = fit_model(session, plan.spec)
    old, new = _replay(session, retrainer.registry, active, plan, fitted)
    days = retrainer.policy.holdout_days
    reason, evaluation = _verdict(plan, fitted, old, new, champion, days)
    series = (champion.device_id, champion.metric_name, champion.id)
    if dry_run:
        return Outcome(*series, None, reason is None, reason, evaluation)
    champion.retrained_at = now
    model = store_model(
        session, retrainer.registry, retrainer.artifact_key, plan.spec, fitted, rejection=reason
    )
    model.retrain_schedule, model.retrained_at = champion.retrain_schedule, now
    metrics_row(session, model.id).evaluation = evaluation
    session.commit()
    if reason is None:
        retrainer.scorer.forget(champion.id)
    _LOGGER.info("retrained %s: %s", series[1], "promoted" if reason is None else "rejected")
    return Outcome(*series, model.id, reason is None, reason, evaluation)
