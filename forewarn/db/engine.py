"""Engine construction for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

# A pooled PostgreSQL connection idle longer than this is checked before use.
IDLE_PING_S = 2.0
CONNECT_TIMEOUT_S = 10


def make_engine(url: str, *, idle_ping_s: float = IDLE_PING_S) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A server that silently drops packets must not hang a connect forever.
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S}
        engine = create_engine(url, pool_size=10, max_overflow=20, connect_args=connect_args)
        _ping_when_idle(engine, idle_ping_s)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _ping_when_idle(engine: Engine, idle_ping_s: float) -> None:
    """Check a connection before use only when it sat idle in the pool.

    SQLAlchemy's pool_pre_ping costs a round trip on every checkout (~0.1 ms, on every
    request). A connection returned moments ago is as good as a pinged one; one that sat
    idle may have been dropped by a database restart, so it is pinged and, if dead,
    replaced. A restart in the seconds after a connection's last use surfaces as one
    failed transaction, after which the pool discards every older connection.
    """

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _returned(_dbapi: Any, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        if time.monotonic() - record.info["returned_at"] < idle_ping_s:
            return
        try:
            alive = engine.dialect.do_ping(dbapi)
        except engine.dialect.loaded_dbapi.Error as err:
            raise exc.DisconnectionError(str(err)) from err
        if not alive:
            raise exc.DisconnectionError("connection failed its ping")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run during ingest; NORMAL is durable across process crashes in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def is_postgres(engine: Engine) -> bool:
    """True when the engine talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"
