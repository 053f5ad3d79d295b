"""Write readings in one transaction: COPY on PostgreSQL, multi-row upsert on SQLite.

A repeated (device, metric, ts) overwrites the earlier value, so re-sent readings are
idempotent (devices retry; brokers redeliver).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from forewarn.db.models import Telemetry

# SQLite caps bound parameters per statement (32766); 4 columns per row.
_SQLITE_CHUNK = 8000


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


def write_rows(connection: Connection, rows: Sequence[Row]) -> int:
    """Upsert rows inside the caller's transaction; returns how many were written."""
    unique = dedupe(rows)
    if not unique:
        return 0
    if connection.dialect.name == "postgresql":
        _copy_upsert(connection, unique)
    else:
        _sqlite_upsert(connection, unique)
    return len(unique)


def _sqlite_upsert(connection: Connection, rows: list[Row]) -> None:
    statement = sqlite_insert(Telemetry)
    statement = statement.on_conflict_do_update(
        index_elements=["device_id", "metric_name", "ts"],
        set_={"value": statement.excluded.value},
    )
    for start in range(0, len(rows), _SQLITE_CHUNK):
        chunk = rows[start : start + _SQLITE_CHUNK]
        connection.execute(statement, [row._asdict() for row in chunk])


def _copy_upsert(connection: Connection, rows: list[Row]) -> None:
    """COPY into a temporary table, then one INSERT ... ON CONFLICT from it."""
    if len(rows) < 64:
        _pg_small_upsert(connection, rows)
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS telemetry_stage "
            "(device_id uuid, metric_name varchar(64), ts bigint, value double precision) "
            "ON COMMIT DELETE ROWS"
        )
        with cursor.copy(
            "COPY telemetry_stage (device_id, metric_name, ts, value) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            "INSERT INTO telemetry (device_id, metric_name, ts, value) "
            "SELECT device_id, metric_name, ts, value FROM telemetry_stage "
            "ON CONFLICT (device_id, metric_name, ts) DO UPDATE SET value = EXCLUDED.value"
        )
        cursor.execute("TRUNCATE telemetry_stage")


def _pg_small_upsert(connection: Connection, rows: list[Row]) -> None:
    statement = pg_insert(Telemetry)
    statement = statement.on_conflict_do_update(
        index_elements=["device_id", "metric_name", "ts"],
        set_={"value": statement.excluded.value},
    )
    connection.execute(statement, [row._asdict() for row in rows])
