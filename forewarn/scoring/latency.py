"""Prediction latency per model: a log-bucket histogram summed in memory, merged into
`model_metrics` with the usage flush, and read back as a mean and a p95.

Buckets grow by 2^(1/8) (9 %) from 10 µs to about 100 s, so the p95 read from them (linear
inside the bucket) is within one bucket's width of the exact one; histograms of two flushes
or two processes add up, which a reservoir of samples would not.
"""

from __future__ import annotations

import bisect
import math
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from forewarn.db.models import MLModel, ModelMetrics
from forewarn.db.types import utcnow

BOUNDS_S: tuple[float, ...] = tuple(1e-5 * 2 ** (k / 8) for k in range(8 * 24))


def bucket_of(seconds: float) -> int:
    """Index of the bucket holding `seconds`: bucket k covers (BOUNDS_S[k-1], BOUNDS_S[k]];
    the last index takes everything above the top bound."""
    return bisect.bisect_left(BOUNDS_S, seconds)


def quantile(buckets: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a histogram, interpolated inside its bucket; None if empty."""
    total = sum(buckets.values())
    if total == 0:
        return None
    rank, seen = q * total, 0
    for k in sorted(buckets):
        count = buckets[k]
        if seen + count >= rank and count:
            low = BOUNDS_S[k - 1] if 0 < k <= len(BOUNDS_S) else 0.0
            high = BOUNDS_S[min(k, len(BOUNDS_S) - 1)]
            return low + (high - low) * max(0.0, rank - seen) / count
        seen += count
    return BOUNDS_S[-1]


@dataclass
class Tally:
    """Latency and reading span of one model since the last flush."""

    count: int = 0
    sum_s: float = 0.0
    buckets: Counter[int] = field(default_factory=Counter)
    first_ts: int | None = None
    last_ts: int | None = None

    def add(self, other: Tally) -> None:
        """Merge another tally into this one."""
        self.count += other.count
        self.sum_s += other.sum_s
        self.buckets.update(other.buckets)
        self.first_ts = _min(self.first_ts, other.first_ts)
        self.last_ts = _max(self.last_ts, other.last_ts)


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


class LatencyBook:
    """Per-model tallies in memory, written out by the usage flush."""

    def __init__(self) -> None:
        self._tallies: dict[uuid.UUID, Tally] = {}
        self._lock = threading.Lock()

    def record(self, model_id: uuid.UUID, seconds: float, span: tuple[int, int] | None) -> None:
        """One scoring call: its duration and the times of its first and last reading."""
        first, last = span if span is not None else (None, None)
        with self._lock:
            tally = self._tallies.setdefault(model_id, Tally())
            tally.add(Tally(1, seconds, Counter({bucket_of(seconds): 1}), first, last))

    def drain(self) -> dict[uuid.UUID, Tally]:
        """Take every tally (the book is empty afterwards)."""
        with self._lock:
            drained, self._tallies = self._tallies, {}
        return drained

    def restore(self, drained: dict[uuid.UUID, Tally]) -> None:
        """Put back tallies whose write failed."""
        with self._lock:
            for model_id, tally in drained.items():
                self._tallies.setdefault(model_id, Tally()).add(tally)


def write_tallies(session: Session, drained: dict[uuid.UUID, Tally]) -> None:
    """Merge tallies into the models' `model_metrics` rows (in the caller's transaction)."""
    if not drained:
        return
    ids = list(drained)
    rows = {
        row.model_id: row
        for row in session.scalars(
            select(ModelMetrics).where(ModelMetrics.model_id.in_(ids)).with_for_update()
        )
    }
    # A model deleted since it scored has no row to merge into (and must not get one).
    alive = set(session.scalars(select(MLModel.id).where(MLModel.id.in_(ids))))
    for model_id, tally in drained.items():
        if model_id not in alive:
            continue
        row = rows.get(model_id) or metrics_row(session, model_id)
        stored = stored_tally(row)
        stored.add(tally)
        row.latency_count, row.latency_sum_s = stored.count, stored.sum_s
        row.latency_buckets = {str(k): v for k, v in sorted(stored.buckets.items())}
        row.first_scored_ts, row.last_scored_ts = stored.first_ts, stored.last_ts
        row.updated_at = utcnow()


def metrics_row(session: Session, model_id: uuid.UUID) -> ModelMetrics:
    """The model's metrics row, added to the session if it had none."""
    row = session.get(ModelMetrics, model_id)
    if row is None:
        row = ModelMetrics(
            model_id=model_id, latency_count=0, latency_sum_s=0.0, latency_buckets={},
            true_positives=0, false_positives=0, updated_at=utcnow(),
        )  # fmt: skip
        session.add(row)
    return row


def stored_tally(row: ModelMetrics) -> Tally:
    """The latency tally kept in a metrics row."""
    buckets = Counter({int(k): int(v) for k, v in (row.latency_buckets or {}).items()})
    return Tally(
        row.latency_count or 0, row.latency_sum_s or 0.0, buckets, row.first_scored_ts,
        row.last_scored_ts,
    )  # fmt: skip


def mean_and_p95_ms(tally: Tally) -> tuple[float | None, float | None]:
    """Mean and p95 latency in milliseconds (None without calls)."""
    if tally.count == 0:
        return None, None
    p95 = quantile(tally.buckets, 0.95)
    mean = tally.sum_s / tally.count
    return mean * 1000, (p95 * 1000 if p95 is not None and math.isfinite(p95) else None)
