"""Prediction counters and last-use times, batched into periodic UPDATEs.

Writing them on every prediction would put a write transaction on the hot path;
instead they are summed in memory and flushed every second (and before reads).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, case, update
from sqlalchemy.orm import Session, sessionmaker

from forewarn.db.models import MLModel
from forewarn.observability.metrics import Metrics
from forewarn.scoring.latency import LatencyBook, Tally, write_tallies

_LOGGER = logging.getLogger(__name__)
_MODELS = cast(Table, MLModel.__table__)
_COUNT_USAGE = (
    update(_MODELS)
    .where(_MODELS.c.id == bindparam("model_id"))
    .values(
        prediction_count=_MODELS.c.prediction_count + bindparam("p"),
        anomaly_count=_MODELS.c.anomaly_count + bindparam("a"),
        last_used_at=case(
            (_MODELS.c.last_used_at.is_(None), bindparam("at")),
            (_MODELS.c.last_used_at < bindparam("at"), bindparam("at")),
            else_=_MODELS.c.last_used_at,
        ),
    )
)


@dataclass
class _Pending:
    predictions: int
    anomalies: int
    last_used_at: datetime


class UsageTracker:
    """Accumulates per-model usage and writes it out in one transaction."""

    def __init__(
        self, sessions: sessionmaker[Session], interval_s: float, metrics: Metrics | None = None
    ) -> None:
        self._sessions = sessions
        self._interval_s = interval_s
        self._metrics = metrics
        self.latency = LatencyBook()  # per-model latency, written with the counters
        self._pending: dict[uuid.UUID, _Pending] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(
        self,
        model_id: uuid.UUID,
        predictions: int,
        anomalies: int,
        at: datetime,
        timing: tuple[float, int, int] | None = None,
    ) -> None:
        """Count predictions (and anomalies) made by a model at `at`; `timing` is the call's
        (seconds, first reading ms, last reading ms)."""
        if timing is not None:
            self.latency.record(model_id, timing[0], timing[1:])
            if self._metrics is not None:
                self._metrics.predictions.inc(predictions)
                self._metrics.anomalies.inc(anomalies)
                self._metrics.prediction_latency.observe(timing[0])
        with self._lock:
            entry = self._pending.get(model_id)
            if entry is None:
                self._pending[model_id] = _Pending(predictions, anomalies, at)
                return
            entry.predictions += predictions
            entry.anomalies += anomalies
            entry.last_used_at = max(entry.last_used_at, at)

    def flush(self) -> int:
        """Write pending counts; returns how many models were updated."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, {}
            timings = self.latency.drain()
            if pending or timings:
                try:
                    self._write(pending, timings)
                except Exception:
                    self._restore(pending)
                    self.latency.restore(timings)
                    raise
            return len(pending)

    def _write(self, pending: dict[uuid.UUID, _Pending], timings: dict[uuid.UUID, Tally]) -> None:
        with self._sessions() as session, session.begin():
            write_tallies(session, timings)
            if pending:  # one statement, executed for every model (executemany)
                params = [
                    {
                        "model_id": model_id,
                        "p": e.predictions,
                        "a": e.anomalies,
                        "at": e.last_used_at,
                    }
                    for model_id, e in pending.items()
                ]
                session.connection().execute(_COUNT_USAGE, params)

    def _restore(self, pending: dict[uuid.UUID, _Pending]) -> None:
        for model_id, entry in pending.items():
            self.record(model_id, entry.predictions, entry.anomalies, entry.last_used_at)

    def start(self) -> None:
        """Flush in a background thread until stop()."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="usage-flush", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.flush()
            except Exception:  # the database may be briefly away; counts are kept
                _LOGGER.warning("could not write model usage; will retry", exc_info=True)
