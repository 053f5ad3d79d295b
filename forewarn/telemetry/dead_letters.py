"""Refused messages: kept in the `dead_letters` table, counted by kind, logged once per kind."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session

from forewarn.db.models import DeadLetter
from forewarn.db.types import ms_to_datetime
from forewarn.telemetry.readings import METRIC_NAME_RULE

_LOGGER = logging.getLogger(__name__)

EXCERPT_BYTES = 512
_TOPIC_CHARS = 256
_REASON_CHARS = 500


@dataclass(frozen=True)
class RefusalKind:
    """A class of refused message: a dead-letter `kind` and the counter label."""

    name: str
    summary: str


REFUSALS: tuple[RefusalKind, ...] = (
    RefusalKind("bad_topic", "topic is not {root}/devices/{device uuid}/telemetry"),
    RefusalKind("oversized", "payload is larger than FOREWARN_INGEST_MAX_PAYLOAD_BYTES"),
    RefusalKind("bad_json", "payload is not JSON (or not UTF-8)"),
    RefusalKind("bad_shape", "JSON is not a reading, a {ts, values} object or a list of them"),
    RefusalKind("bad_metric", f"a metric name breaks the rule: {METRIC_NAME_RULE}"),
    RefusalKind("bad_value", "a value is not a finite number (string, null, NaN, Infinity)"),
    RefusalKind("bad_timestamp", "ts is not epoch ms / ISO 8601 between 2000 and now + 24 h"),
    RefusalKind("unknown_device", "the topic's device id is not a registered device"),
    RefusalKind("store_failed", "the database refused the message's readings"),
)
KINDS = frozenset(kind.name for kind in REFUSALS)


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """A refused message on its way to the table: the first bytes of its payload only."""

    kind: str
    topic: str
    excerpt: bytes
    reason: str
    received_ms: int


def _text(raw: str) -> str:
    # PostgreSQL text cannot hold NUL; a payload excerpt may contain anything.
    return raw.replace("\x00", "\ufffd")


def _row(record: DeadLetterRecord) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "kind": record.kind,
        "topic": _text(record.topic[:_TOPIC_CHARS]),
        "payload_excerpt": _text(record.excerpt[:EXCERPT_BYTES].decode("utf-8", "replace")),
        "reason": _text(record.reason[:_REASON_CHARS]),
        "received_at": ms_to_datetime(record.received_ms),
    }


def insert_dead_letters(session: Session, records: Sequence[DeadLetterRecord]) -> None:
    """Add the records to the caller's transaction (one multi-row insert)."""
    if records:
        session.execute(insert(DeadLetter), [_row(record) for record in records])


class KindLog:
    """Counts committed dead letters by kind and logs the first of each kind once."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def committed(self, records: Sequence[DeadLetterRecord]) -> None:
        """Record dead letters that are now in the table."""
        for record in records:
            self._counter.labels(kind=record.kind).inc()
            with self._lock:
                first = record.kind not in self._seen
                self._seen.add(record.kind)
            if first:
                _LOGGER.warning(
                    "refused MQTT message (%s) on %s: %s; further %s refusals are only "
                    "counted and kept in dead_letters",
                    record.kind,
                    record.topic[:_TOPIC_CHARS],
                    record.reason,
                    record.kind,
                )


@dataclass(frozen=True)
class DeadLetterFilter:
    """Filters of GET /ingest/dead-letters (`since_ms` compares with received_at)."""

    kind: str | None = None
    since_ms: int | None = None


def _filtered(flt: DeadLetterFilter) -> Select[Any]:
    query = select(DeadLetter)
    if flt.kind is not None:
        query = query.where(DeadLetter.kind == flt.kind)
    if flt.since_ms is not None:
        query = query.where(DeadLetter.received_at >= ms_to_datetime(flt.since_ms))
    return query


def list_dead_letters(
    session: Session, flt: DeadLetterFilter, limit: int, offset: int
) -> tuple[list[DeadLetter], int]:
    """A page of dead letters, newest first, and the total matching the filters."""
    query = _filtered(flt)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(DeadLetter.received_at.desc(), DeadLetter.id).limit(limit).offset(offset)
    return list(session.scalars(page)), total
