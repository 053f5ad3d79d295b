"""Score readings of a series in time order with its active model, and store the anomalies."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session, SessionTransaction

from forewarn.db.models import AnomalyDetection
from forewarn.db.types import utcnow
from forewarn.detection.base import BatchStream, Stream, decide
from forewarn.ml.registry import ActiveModel, ModelRegistry
from forewarn.ml.streams import Previous, StreamStore
from forewarn.ml.usage import UsageTracker

Value = float | list[float]
_PENDING_USAGE = "forewarn.pending_usage"  # session.info key: usage counted on commit


def now_ms() -> int:
    """The server's time in epoch milliseconds."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Verdict:
    """The outcome for one reading."""

    ts: int
    score: float
    is_anomaly: bool
    warming_up: bool
    explanation: dict[str, Any] | None


class Scorer:
    """Scores readings through per-model streams; anomalies go into the caller's transaction."""

    def __init__(self, registry: ModelRegistry, streams: StreamStore, usage: UsageTracker) -> None:
        self._registry = registry
        self._streams = streams
        self._usage = usage

    def score_series(
        self,
        session: Session,
        model: ActiveModel,
        readings: Sequence[tuple[int, Value]],
        previous: Previous | None = None,
    ) -> list[Verdict]:
        """Score readings of one model's series, sorted by time, already stored in `session`.

        Anomalies are added to the session; the caller commits, once, for the whole request.
        The model's usage counts them when that commit happens (not if it rolls back).
        `previous` is the stored reading before the first one, when the caller read it.
        """
        if not readings:
            return []
        detector = self._registry.detector(model)
        # One request at a time moves a model's stream; a failure leaves no half-moved stream.
        with self._streams.lock(model.id):
            stream = self._streams.stream_for(session, model, detector, readings[0][0], previous)
            try:
                verdicts = _verdicts(stream, readings, model.threshold)
            except BaseException:
                self._streams.forget(model.id)
                raise
            self._streams.advanced(model.id, stream, readings[-1][0])
        _store_anomalies(session, model, readings, verdicts)
        flagged_count = sum(v.is_anomaly for v in verdicts)
        self._count_on_commit(session, (model.id, len(verdicts), flagged_count, utcnow()))
        return verdicts

    def _count_on_commit(
        self, session: Session, usage: tuple[uuid.UUID, int, int, datetime]
    ) -> None:
        if _PENDING_USAGE not in session.info:
            session.info[_PENDING_USAGE] = []
            event.listen(session, "after_commit", self._record_pending)
            event.listen(session, "after_transaction_end", _drop_pending)
        session.info[_PENDING_USAGE].append(usage)

    def _record_pending(self, session: Session) -> None:
        pending: list[tuple[uuid.UUID, int, int, datetime]] = session.info[_PENDING_USAGE]
        for model_id, predictions, anomalies, at in pending:
            self._usage.record(model_id, predictions, anomalies, at)
        pending.clear()

    def forget(self, model_id: uuid.UUID) -> None:
        """Drop the in-memory state of a model."""
        self._streams.forget(model_id)


def _verdicts(
    stream: Stream, readings: Sequence[tuple[int, Value]], threshold: float
) -> list[Verdict]:
    """Verdicts in reading order; streams that can, score the whole batch at once."""
    if len(readings) > 1 and isinstance(stream, BatchStream):
        stamps = [ts for ts, _ in readings]
        values = [value for _, value in readings]
        if all(type(v) is float for v in values):
            scores, flags, why = stream.update_batch(stamps, values, threshold)  # type: ignore[arg-type]
            verdicts = [
                Verdict(ts, score, flag, False, None)
                for ts, score, flag in zip(stamps, scores, flags, strict=True)
            ]
            for i, explanation in why.items():
                verdicts[i] = replace(verdicts[i], explanation=explanation.as_dict())
            return verdicts
    return [_verdict(stream, ts, value, threshold) for ts, value in readings]


def _verdict(stream: Stream, ts: int, value: Value, threshold: float) -> Verdict:
    scored = stream.update(ts, value)
    flagged = decide(scored, threshold)
    explanation = stream.explain().as_dict() if flagged else None
    return Verdict(ts, scored.score, flagged, scored.warming_up, explanation)


def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ended without commit (rolled back, closed) counts nothing."""
    if transaction.parent is None:
        session.info[_PENDING_USAGE].clear()


def _store_anomalies(
    session: Session,
    model: ActiveModel,
    readings: Sequence[tuple[int, Value]],
    verdicts: Sequence[Verdict],
) -> None:
    at = utcnow()
    rows = [
        _anomaly_row(model, value, verdict, at)
        for (_, value), verdict in zip(readings, verdicts, strict=True)
        if verdict.is_anomaly
    ]
    if rows:
        session.execute(insert(AnomalyDetection), rows)


def _anomaly_row(
    model: ActiveModel, value: Value, verdict: Verdict, at: datetime
) -> dict[str, Any]:
    """One anomaly; a device-level one records the value of its most deviant metric."""
    shown = value if isinstance(value, float | int) else _top_metric_value(model, value, verdict)
    return {
        "id": uuid.uuid4(),
        "model_id": model.id,
        "device_id": model.device_id,
        "metric_name": model.metric_name,
        "value": float(shown),
        "anomaly_score": verdict.score,
        "threshold": model.threshold,
        "ts": verdict.ts,
        "detected_at": at,
        "explanation": verdict.explanation,
    }


def _top_metric_value(model: ActiveModel, values: list[float], verdict: Verdict) -> float:
    named = dict(zip(model.metrics, values, strict=True))
    ranked = (verdict.explanation or {}).get("metrics") or list(model.metrics)
    return float(named.get(ranked[0], values[0]))
