"""One batch of messages, one transaction: readings, their scores and anomalies, dead letters.

The readings go through the reading pipeline (`forewarn.pipeline`), with the batch's dead
letters as the caller's own rows of the same transaction.

A database that cannot be reached raises `StorageUnavailableError` (the batch is kept and
retried). Any other failure is one message's fault until proven otherwise: the batch is then
written message by message and a message the database still refuses becomes a `store_failed`
dead letter, so one bad message can never stall the stream.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from sqlalchemy import exc, select
from sqlalchemy.orm import Session, sessionmaker

from forewarn.db.models import Device
from forewarn.errors import StorageUnavailableError
from forewarn.ingest.mqtt import AckToken
from forewarn.ingest.payloads import Accepted, Refusal
from forewarn.pipeline.ingest import ReadingPipeline
from forewarn.telemetry.dead_letters import DeadLetterRecord, insert_dead_letters
from forewarn.telemetry.store import Row

_LOGGER = logging.getLogger(__name__)
_TRANSIENT = (
    exc.OperationalError,
    exc.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A received message on its way to the database, with what acknowledges it."""

    ack: AckToken
    topic: str
    excerpt: bytes
    received_ms: int
    outcome: Accepted | Refusal

    @property
    def readings(self) -> int:
        """How many metric values it carries."""
        return len(self.outcome.rows) if isinstance(self.outcome, Accepted) else 0

    def dead_letter(self, refusal: Refusal) -> DeadLetterRecord:
        """This message as a dead letter for `refusal`."""
        return DeadLetterRecord(
            refusal.kind, self.topic, self.excerpt, refusal.reason, self.received_ms
        )


@dataclass(frozen=True)
class BatchResult:
    """What a committed batch stored."""

    readings: int
    scored: int
    anomalies: int
    dead_letters: list[DeadLetterRecord]

    def plus(self, other: BatchResult) -> BatchResult:
        """Both results together."""
        return BatchResult(
            self.readings + other.readings,
            self.scored + other.scored,
            self.anomalies + other.anomalies,
            self.dead_letters + other.dead_letters,
        )


class KnownDevices:
    """Registered device ids seen so far; a miss is checked against the database."""

    def __init__(self, limit: int = 100_000) -> None:
        self._known: set[uuid.UUID] = set()
        self._limit = limit

    def unknown(self, session: Session, ids: set[uuid.UUID]) -> set[uuid.UUID]:
        """The ids among `ids` that are not registered devices."""
        missing = ids - self._known
        if not missing:
            return set()
        found = set(session.scalars(select(Device.id).where(Device.id.in_(missing))))
        if len(self._known) + len(found) > self._limit:
            self._known.clear()
        self._known |= found
        return missing - found

    def forget(self) -> None:
        """Drop the cache (a device may have been deleted)."""
        self._known.clear()


class BatchWriter:
    """Writes batches of deliveries through the reading pipeline, one transaction each."""

    def __init__(self, sessions: sessionmaker[Session], pipeline: ReadingPipeline) -> None:
        self._sessions = sessions
        self._pipeline = pipeline
        self._devices = KnownDevices()

    def write(self, batch: Sequence[Delivery]) -> BatchResult:
        """Store a batch in one transaction, or message by message if the database refuses it."""
        try:
            return self._guarded(batch)
        except StorageUnavailableError:
            raise
        except Exception as err:
            _LOGGER.warning("batch refused (%s); writing it message by message", _describe(err))
            self._devices.forget()
        return self._one_by_one(batch)

    def _guarded(self, batch: Sequence[Delivery]) -> BatchResult:
        try:
            return self._commit(batch)
        except _TRANSIENT as err:
            raise StorageUnavailableError(_describe(err)) from err

    def _commit(self, batch: Sequence[Delivery]) -> BatchResult:
        with self._sessions() as session:
            by_device, letters = self._sort(session, batch)
            done = self._pipeline.ingest(
                session,
                by_device,
                transport="mqtt",
                also=lambda same: insert_dead_letters(same, letters),
            )
        return BatchResult(done.readings, done.scored, done.anomalies, letters)

    def _sort(
        self, session: Session, batch: Sequence[Delivery]
    ) -> tuple[dict[uuid.UUID, list[Row]], list[DeadLetterRecord]]:
        """Rows by registered device, and dead letters for everything else."""
        ids = {d.outcome.device_id for d in batch if isinstance(d.outcome, Accepted)}
        unknown = self._devices.unknown(session, ids) if ids else set()
        by_device: dict[uuid.UUID, list[Row]] = defaultdict(list)
        letters: list[DeadLetterRecord] = []
        for delivery in batch:
            outcome = delivery.outcome
            if isinstance(outcome, Refusal):
                letters.append(delivery.dead_letter(outcome))
            elif outcome.device_id in unknown:
                reason = f"device {outcome.device_id} is not registered"
                letters.append(delivery.dead_letter(Refusal("unknown_device", reason)))
            else:
                by_device[outcome.device_id].extend(outcome.rows)
        return by_device, letters

    def _one_by_one(self, batch: Sequence[Delivery]) -> BatchResult:
        """Each message in its own transaction; the ones refused again become dead letters."""
        total = BatchResult(0, 0, 0, [])
        failed: list[DeadLetterRecord] = []
        for delivery in batch:
            try:
                total = total.plus(self._guarded([delivery]))
            except StorageUnavailableError:
                raise
            except Exception as err:
                reason = f"the database refused the readings: {_describe(err)}"
                failed.append(delivery.dead_letter(Refusal("store_failed", reason)))
        try:
            with self._sessions() as session:
                insert_dead_letters(session, failed)
                session.commit()
        except _TRANSIENT as err:
            raise StorageUnavailableError(_describe(err)) from err
        return total.plus(BatchResult(0, 0, 0, failed))


def _name(err: BaseException) -> str:
    return type(err).__name__


def _describe(err: BaseException) -> str:
    """The error's class and first line (driver messages name host and port, never secrets)."""
    lines = str(err).strip().splitlines()
    return f"{_name(err)}: {lines[0][:160]}" if lines else _name(err)
