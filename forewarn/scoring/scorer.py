"""Score readings of a series in time order with its active model, and store the anomalies."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, NamedTuple

from psycopg.types.json import Json
from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from forewarn.db.models import AnomalyDetection
from forewarn.db.types import utcnow
from forewarn.detection.events import event_id
from forewarn.detection.tracked import TrackedState
from forewarn.scoring.registry import ActiveModel, ModelRegistry
from forewarn.scoring.series_state import Previous, SeriesStates
from forewarn.scoring.usage import UsageTracker
from forewarn.stream.commit import on_commit

Value = float | list[float]
# (model, predictions, anomalies, when, (seconds, first ts, last ts)): one scoring call
_Usage = tuple[uuid.UUID, int, int, datetime, tuple[float, int, int]]


def now_ms() -> int:
    """The server's time in epoch milliseconds."""
    return int(time.time() * 1000)


class Verdict(NamedTuple):
    """The outcome for one reading (a tuple: a batch makes 100,000 of them).

    `is_anomaly`: the reading opens an event to report; `anomalous`: it lies inside an
    excursion; `event_id`: that excursion's stable id (see `detection.events`).
    """

    ts: int
    score: float
    is_anomaly: bool
    warming_up: bool
    explanation: dict[str, Any] | None
    anomalous: bool = False
    event_id: str | None = None


class Work(NamedTuple):
    """Readings of one model's series, sorted by time, and the stored reading before them
    when the caller read it."""

    model: ActiveModel
    readings: Sequence[tuple[int, Value]]
    previous: Previous | None = None


class Scorer:
    """Scores readings through per-model states; anomalies go into the caller's transaction."""

    def __init__(
        self,
        registry: ModelRegistry,
        states: SeriesStates,
        usage: UsageTracker,
        on_anomalies: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self._registry = registry
        self._states = states
        self._usage = usage
        self._on_anomalies = on_anomalies  # gets the anomaly rows once they are committed

    def score_many(
        self,
        session: Session,
        work: Sequence[Work],
        during: AbstractContextManager[object] | None = None,
    ) -> list[list[Verdict]]:
        """Score the readings of several models (each model once) in one transaction.

        Each state is positioned first (that may read the database); then `during` is
        entered and the readings are scored in memory, so the database can store them
        meanwhile (see `telemetry.store.storing`: the connection is off limits inside);
        anomalies are added once `during` has exited.
        """
        if len({w.model.id for w in work}) != len(work):
            raise ValueError("score_many takes each model once")
        # Readings are written while the locks are held (in `during`): whoever writes
        # readings before scoring them must take the locks first (`holding`), or two
        # requests for one series could each wait for the other.
        with self._states.holding(w.model.id for w in work):
            try:
                results = self._score_locked(session, work, during or nullcontext())
            except BaseException:  # a failure leaves no half-moved state
                for w in work:
                    self._states.forget(w.model.id)
                raise
        stored = _store_anomalies(session, work, [verdicts for verdicts, _ in results])
        if stored and self._on_anomalies is not None:
            on_commit(session, stored, self._on_anomalies)
        at = utcnow()
        usage = [
            (w.model.id, len(verdicts), sum(v.is_anomaly for v in verdicts), at, timing)
            for w, (verdicts, timing) in zip(work, results, strict=True)
            if w.readings
        ]
        on_commit(session, usage, self._record_usage)
        return [verdicts for verdicts, _ in results]

    def _score_locked(
        self, session: Session, work: Sequence[Work], during: AbstractContextManager[object]
    ) -> list[tuple[list[Verdict], tuple[float, int, int]]]:
        """Verdicts and (seconds, first ts, last ts) per model; the seconds count positioning
        the state (a rebuild, after a restart) and scoring, not the wait for the writes."""
        positioned: list[tuple[TrackedState | None, float]] = []
        for w in work:
            started = time.perf_counter()
            state = self._state(session, w) if w.readings else None
            positioned.append((state, time.perf_counter() - started))
        results: list[tuple[list[Verdict], tuple[float, int, int]]] = []
        with during:
            for w, (state, seconds) in zip(work, positioned, strict=True):
                if state is None:
                    results.append(([], (0.0, 0, 0)))
                    continue
                started = time.perf_counter()
                verdicts = _verdicts(state, w.readings, w.model.threshold, str(w.model.id))
                seconds += time.perf_counter() - started
                results.append((verdicts, (seconds, w.readings[0][0], w.readings[-1][0])))
        for w, (state, _) in zip(work, positioned, strict=True):
            if state is not None:
                self._states.advanced(w.model.id, state, w.readings[-1][0])
        return results

    def _state(self, session: Session, w: Work) -> TrackedState:
        detector = self._registry.detector(w.model)
        return self._states.state_for(session, w.model, detector, w.readings[0][0], w.previous)

    def _record_usage(self, usages: list[_Usage]) -> None:
        for model_id, predictions, anomalies, at, timing in usages:
            self._usage.record(model_id, predictions, anomalies, at, timing)

    def holding(self, models: Sequence[ActiveModel]) -> AbstractContextManager[None]:
        """Hold the states of `models` (for a caller that writes readings, then scores
        them with `score_many`, in one transaction)."""
        return self._states.holding(m.id for m in models)

    def forget(self, model_id: uuid.UUID) -> None:
        """Drop the in-memory state of a model."""
        self._states.forget(model_id)


def _verdicts(
    state: TrackedState, readings: Sequence[tuple[int, Value]], threshold: float, scope: str
) -> list[Verdict]:
    """Verdicts in reading order, the whole batch scored at once. Events are named within
    `scope` (the model), each id made once however many readings its excursion spans."""
    stamps = [ts for ts, _ in readings]
    batch = state.verdict_batch(stamps, [value for _, value in readings], threshold)
    why = {i: e.as_dict() for i, e in batch.explanations.items()}
    ids = {s: event_id(scope, s) for s in set(batch.event_starts) if s is not None}
    columns = zip(
        stamps, batch.scores, batch.flags, batch.warming_up, batch.anomalous,
        batch.event_starts, strict=True,
    )  # fmt: skip
    return [
        Verdict(ts, score, flag, warming, why.get(i), inside, ids.get(start))
        for i, (ts, score, flag, warming, inside, start) in enumerate(columns)
    ]


def _store_anomalies(
    session: Session, work: Sequence[Work], verdicts: Sequence[Sequence[Verdict]]
) -> list[dict[str, Any]]:
    at = utcnow()
    rows = [
        _anomaly_row(w.model, value, verdict, at)
        for w, series in zip(work, verdicts, strict=True)
        for (_, value), verdict in zip(w.readings, series, strict=True)
        if verdict.is_anomaly
    ]
    if not rows:
        return rows
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _copy_anomalies(connection, rows)
    else:
        session.execute(insert(AnomalyDetection), rows)
    return rows


_ANOMALY_COLUMNS = (
    "id", "model_id", "device_id", "metric_name", "value", "anomaly_score", "threshold", "ts",
    "detected_at", "event_id", "explanation",
)  # fmt: skip


def _copy_anomalies(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY, not an insert per row (a batch can flag thousands of readings)."""
    raw = connection.connection.driver_connection
    assert raw is not None
    statement = f"COPY anomaly_detections ({', '.join(_ANOMALY_COLUMNS)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            explanation = row["explanation"]
            copy.write_row(
                [*(row[c] for c in _ANOMALY_COLUMNS[:-1]),
                 None if explanation is None else Json(explanation)]
            )  # fmt: skip


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
        "event_id": None if verdict.event_id is None else uuid.UUID(verdict.event_id),
        "explanation": verdict.explanation,
    }


def _top_metric_value(model: ActiveModel, values: list[float], verdict: Verdict) -> float:
    named = dict(zip(model.metrics, values, strict=True))
    ranked = (verdict.explanation or {}).get("metrics") or list(model.metrics)
    return float(named.get(ranked[0], values[0]))
