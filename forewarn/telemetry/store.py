"""Write readings in one transaction: COPY on PostgreSQL, multi-row upsert on SQLite.

A repeated (device, metric, ts) overwrites the earlier value, so re-sent readings are
idempotent (devices retry; brokers redeliver).

Every write checks that its devices are registered, once per write (`NotFoundError`
otherwise), instead of a foreign key that PostgreSQL would check once per row (it tripled
the time of a COPY). On PostgreSQL the check also takes a KEY SHARE lock on the device rows
until the transaction ends, so a device deleted meanwhile waits for the readings and then
deletes them with itself (`services.devices.delete_device`); on SQLite the check follows
the write, when the transaction already holds the database's write lock.
"""

from __future__ import annotations

import struct
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
from psycopg.errors import UniqueViolation
from sqlalchemy import Connection

from forewarn.errors import NotFoundError


class Row(NamedTuple):
    """One metric value of one device at one time."""

    device_id: uuid.UUID
    metric_name: str
    ts: int
    value: float


def dedupe(rows: Iterable[Row]) -> list[Row]:
    """Keep the last value for each (device, metric, ts), as an upsert would."""
    latest: dict[tuple[uuid.UUID, str, int], Row] = {}
    for row in rows:
        latest[(row.device_id, row.metric_name, row.ts)] = row
    return list(latest.values())


def write_rows(connection: Connection, rows: Sequence[Row], *, unique: bool = False) -> int:
    """Upsert rows inside the caller's transaction; returns how many were written.

    `unique=True` promises no key repeats in `rows` (the caller de-duplicated them).
    """
    distinct = list(rows) if unique else dedupe(rows)
    if not distinct:
        return 0
    if connection.dialect.name == "postgresql":
        _lock_devices(connection, distinct)
        _copy_upsert(connection, distinct)
    else:
        _sqlite_upsert(connection, distinct)
        _check_devices(connection, distinct)
    return len(distinct)


def _device_ids(rows: Sequence[Row]) -> list[uuid.UUID]:
    first = rows[0].device_id
    if all(row.device_id == first for row in rows):  # the common case, without hashing
        return [first]
    return list({row.device_id for row in rows})


def _lock_devices(connection: Connection, rows: Sequence[Row]) -> None:
    """PostgreSQL: KEY SHARE locks on the rows' devices; NotFoundError if one is missing."""
    wanted = _device_ids(rows)
    found = connection.exec_driver_sql(
        "SELECT id FROM devices WHERE id = ANY(%s) FOR KEY SHARE", (wanted,)
    ).scalars()
    _all_found(wanted, set(found))


def _check_devices(connection: Connection, rows: Sequence[Row]) -> None:
    """SQLite: NotFoundError if a device of the rows is not registered."""
    wanted = _device_ids(rows)
    marks = ", ".join("?" * len(wanted))
    found = connection.exec_driver_sql(
        f"SELECT id FROM devices WHERE id IN ({marks})", tuple(d.hex for d in wanted)
    ).scalars()
    _all_found(wanted, {uuid.UUID(hex=str(f)) for f in found})


def _all_found(wanted: list[uuid.UUID], found: set[uuid.UUID]) -> None:
    missing = [d for d in wanted if d not in found]
    if missing:
        raise NotFoundError("device", missing[0])


# Below this many rows a COPY takes a few milliseconds: overlapping it is not worth a thread.
OVERLAP_MIN_ROWS = 2_000


@contextmanager
def storing(connection: Connection, rows: Sequence[Row], *, unique: bool = False) -> Iterator[int]:
    """`write_rows` around the caller's block; yields how many rows are written.

    A large batch on PostgreSQL is copied by a helper thread while the block runs (scoring
    the same readings, say), so the server stores on one core while Python computes on the
    other. The block must not use the connection: it is busy until the copy ends, which is
    when the block exits. Otherwise the rows are written before the block runs. Either way
    they are in the transaction once the `with` statement is done.
    """
    distinct = list(rows) if unique else dedupe(rows)
    if connection.dialect.name != "postgresql" or len(distinct) < OVERLAP_MIN_ROWS:
        yield write_rows(connection, distinct, unique=True)
        return
    _lock_devices(connection, distinct)
    with _copying(connection, distinct):
        yield len(distinct)


@contextmanager
def _copying(connection: Connection, rows: list[Row]) -> Iterator[None]:
    """COPY the rows from a helper thread while the caller's block runs.

    New readings are the common case: a plain COPY is the fastest path. Re-sent readings
    make it fail on the primary key; a savepoint undoes that attempt alone, and they are
    upserted through a stage instead.
    """
    raw = connection.connection.driver_connection
    assert raw is not None
    payload = _copy_binary(rows)
    savepoint = connection.begin_nested()
    failures: list[BaseException] = []
    copier = threading.Thread(
        target=_copy_catching, args=(raw, payload, failures), name="forewarn-copy"
    )
    copier.start()
    try:
        yield
    except BaseException:
        copier.join()
        savepoint.rollback()
        raise
    copier.join()
    if not failures:
        savepoint.commit()
        return
    savepoint.rollback()
    if not isinstance(failures[0], UniqueViolation):
        raise failures[0]
    _staged_upsert(raw, payload)


def _copy_catching(raw: Any, payload: bytes, failures: list[BaseException]) -> None:
    try:
        with raw.cursor() as cursor:
            _copy(cursor, "telemetry", payload)
    except BaseException as err:  # handed to the caller's thread
        failures.append(err)


_SQLITE_UPSERT = (
    "INSERT INTO telemetry (device_id, metric_name, ts, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (device_id, metric_name, ts) DO UPDATE SET value = excluded.value"
)


def _sqlite_upsert(connection: Connection, rows: list[Row]) -> None:
    # The driver's executemany, bypassing SQLAlchemy's per-row parameter processing (5x
    # faster); device ids are stored the way SQLAlchemy's Uuid type stores them: 32 hex digits.
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.executemany(_SQLITE_UPSERT, ((r.device_id.hex, r.metric_name, r.ts, r.value) for r in rows))


def _copy_upsert(connection: Connection, rows: list[Row]) -> None:
    """COPY straight into the table; if a row already exists, upsert through a stage."""
    if len(rows) < 64:
        _pg_small_upsert(connection, rows)
        return
    with _copying(connection, rows):
        pass


# PostgreSQL's binary COPY format: a header, fixed-layout records per series, a trailer.
# Building records with numpy is ~20x faster than formatting text lines (float repr, UUIDs).
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_BINARY_TRAILER = struct.pack(">h", -1)


def _copy_binary(rows: list[Row]) -> bytes:
    """The rows as a binary COPY payload (device_id, metric_name, ts, value)."""
    series: dict[tuple[uuid.UUID, str], tuple[list[int], list[float]]] = {}
    for device_id, metric, ts, value in rows:
        columns = series.get((device_id, metric))
        if columns is None:
            columns = series[device_id, metric] = ([], [])
        columns[0].append(ts)
        columns[1].append(value)
    records = [_records(key, stamps, values) for key, (stamps, values) in series.items()]
    return b"".join((_BINARY_HEADER, *records, _BINARY_TRAILER))


def _records(key: tuple[uuid.UUID, str], stamps: list[int], values: list[float]) -> bytes:
    """One series' records: every field is a big-endian length, then the value."""
    device_id, metric = key
    name = metric.encode()
    layout = np.dtype(
        [("fields", ">i2"), ("id_size", ">i4"), ("id", "V16"), ("name_size", ">i4"),
         ("name", f"S{len(name)}"), ("ts_size", ">i4"), ("ts", ">i8"),
         ("value_size", ">i4"), ("value", ">f8")]
    )  # fmt: skip
    records = np.empty(len(stamps), layout)
    records["fields"] = 4
    records["id_size"], records["id"] = 16, np.void(device_id.bytes)
    records["name_size"], records["name"] = len(name), name
    records["ts_size"], records["ts"] = 8, stamps
    records["value_size"], records["value"] = 8, values
    return records.tobytes()


def _copy(cursor: Any, table: str, payload: bytes) -> None:
    columns = "(device_id, metric_name, ts, value)"
    with cursor.copy(f"COPY {table} {columns} FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(payload)


def _staged_upsert(raw: Any, payload: bytes) -> None:
    with raw.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS telemetry_stage "
            "(device_id uuid, metric_name varchar(64), ts bigint, value double precision) "
            "ON COMMIT DELETE ROWS"
        )
        _copy(cursor, "telemetry_stage", payload)
        cursor.execute(
            "INSERT INTO telemetry (device_id, metric_name, ts, value) "
            "SELECT device_id, metric_name, ts, value FROM telemetry_stage "
            "ON CONFLICT (device_id, metric_name, ts) DO UPDATE SET value = EXCLUDED.value"
        )
        cursor.execute("TRUNCATE telemetry_stage")


_PG_UPSERT = (
    "INSERT INTO telemetry (device_id, metric_name, ts, value) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (device_id, metric_name, ts) DO UPDATE SET value = EXCLUDED.value"
)


def _pg_small_upsert(connection: Connection, rows: list[Row]) -> None:
    # Plain SQL: building the ORM insert construct cost a third of a single prediction.
    connection.exec_driver_sql(_PG_UPSERT, [tuple(row) for row in rows])


# One statement: lock the device (KEY SHARE, as every write does), upsert the reading and
# read the one before it. No device, no row: nothing is returned.
_PG_UPSERT_WITH_PREVIOUS = (
    "WITH device AS (SELECT id FROM devices WHERE id = %(device)s FOR KEY SHARE) "
    "INSERT INTO telemetry (device_id, metric_name, ts, value) "
    "SELECT id, %(metric)s, %(ts)s, %(value)s FROM device "
    "ON CONFLICT (device_id, metric_name, ts) DO UPDATE SET value = EXCLUDED.value "
    "RETURNING (SELECT t.ts FROM telemetry t WHERE t.device_id = %(device)s "
    "AND t.metric_name = %(metric)s AND t.ts < %(ts)s ORDER BY t.ts DESC LIMIT 1)"
)


def upsert_with_previous(connection: Connection, row: Row) -> int | None:
    """PostgreSQL: upsert one reading and return the time of the series' reading before it.

    One round trip instead of two for the commonest request, a single prediction. The
    subquery sees the table as it was when the statement began, without this reading.
    """
    params = {"device": row.device_id, "metric": row.metric_name, "ts": row.ts, "value": row.value}
    answer = connection.exec_driver_sql(_PG_UPSERT_WITH_PREVIOUS, params).one_or_none()
    if answer is None:
        raise NotFoundError("device", row.device_id)
    previous = answer[0]
    return None if previous is None else int(previous)
