"""Score readings of a series in time order with its active model, and store the anomalies."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import insert
from sqlalchemy.orm import Session

from forewarn.db.models import AnomalyDetection
from forewarn.db.types import utcnow
from forewarn.detection.base import Stream, VerdictBatchStream, decide
from forewarn.ml.registry import ActiveModel, ModelRegistry
from forewarn.ml.streams import Previous, StreamStore
from forewarn.ml.usage import UsageTracker
from forewarn.stream.commit import on_commit

Value = float | list[float]
# (model, predictions, anomalies, when, (seconds, first ts, last ts)): one scoring call
_Usage = tuple[uuid.UUID, int, int, datetime, tuple[float, int, int]]


def now_ms() -> int:
    """The server's time in epoch milliseconds."""
    return int(time.time() * 1000)


class Verdict(NamedTuple):
    """The outcome for one reading (a tuple: a batch makes 100,000 of them)."""

    ts: int
    score: float
    is_anomaly: bool
    warming_up: bool
    explanation: dict[str, Any] | None


class Scorer:
    """Scores readings through per-model streams; anomalies go into the caller's transaction."""

    def __init__(
        self,
        registry: ModelRegistry,
        streams: StreamStore,
        usage: UsageTracker,
        on_anomalies: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self._registry = registry
        self._streams = streams
        self._usage = usage
        self._on_anomalies = on_anomalies  # gets the anomaly rows once they are committed

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
        started = time.perf_counter()
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
        timing = (time.perf_counter() - started, readings[0][0], readings[-1][0])
        stored = _store_anomalies(session, model, readings, verdicts)
        if stored and self._on_anomalies is not None:
            on_commit(session, stored, self._on_anomalies)
        flagged_count = sum(v.is_anomaly for v in verdicts)
        usage = (model.id, len(verdicts), flagged_count, utcnow(), timing)
        on_commit(session, [usage], self._record_usage)
        return verdicts

    def _record_usage(self, usages: list[_Usage]) -> None:
        for model_id, predictions, anomalies, at, timing in usages:
            self._usage.record(model_id, predictions, anomalies, at, timing)

    def forget(self, model_id: uuid.UUID) -> None:
        """Drop the in-memory state of a model."""
        self._streams.forget(model_id)


def _verdicts(
    stream: Stream, readings: Sequence[tuple[int, Value]], threshold: float
) -> list[Verdict]:
    """Verdicts in reading order; streams that can, score the whole batch at once."""
    if len(readings) > 1 and isinstance(stream, VerdictBatchStream):
        stamps = [ts for ts, _ in readings]
        batch = stream.verdict_batch(stamps, [value for _, value in readings], threshold)
        why = {i: e.as_dict() for i, e in batch.explanations.items()}
        return [
            Verdict(ts, score, flag, warming, why.get(i))
            for i, (ts, score, flag, warming) in enumerate(
                zip(stamps, batch.scores, batch.flags, batch.warming_up, strict=True)
            )
        ]
    return [_verdict(stream, ts, value, threshold) for ts, value in readings]


def _verdict(stream: Stream, ts: int, value: Value, threshold: float) -> Verdict:
    scored = stream.update(ts, value)
    flagged = decide(scored, threshold)
    explanation = stream.explain().as_dict() if flagged else None
    return Verdict(ts, scored.score, flagged, scored.warming_up, explanation)


def _store_anomalies(
    session: Session,
    model: ActiveModel,
    readings: Sequence[tuple[int, Value]],
    verdicts: Sequence[Verdict],
) -> list[dict[str, Any]]:
    at = utcnow()
    rows = [
        _anomaly_row(model, value, verdict, at)
        for (_, value), verdict in zip(readings, verdicts, strict=True)
        if verdict.is_anomaly
    ]
    if rows:
        session.execute(insert(AnomalyDetection), rows)
    return rows


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
