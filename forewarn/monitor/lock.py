"""One health scan at a time per database, across processes (`serve` and a CLI scan).

Two scans at once would both see a new finding and both escalate it. PostgreSQL gets a
session advisory lock; SQLite, which lives on one host, a lock file beside its database
(filelock: flock on Unix, msvcrt on Windows).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Engine, text

from forewarn.db.engine import is_postgres

_ADVISORY_KEY = zlib.crc32(b"forewarn.health-scan")


@contextlib.contextmanager
def scan_lock(engine: Engine) -> Iterator[bool]:
    """Hold the scan lock if it is free; yields whether it was taken (never waits)."""
    if is_postgres(engine):
        with _advisory_lock(engine) as taken:
            yield taken
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield True  # a private database: nobody else can scan it
        return
    with _file_lock(Path(database).with_name(Path(database).name + ".scan-lock")) as taken:
        yield taken


@contextlib.contextmanager
def _advisory_lock(engine: Engine) -> Iterator[bool]:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        taken = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": _ADVISORY_KEY}))
        try:
            yield taken
        finally:
            if taken:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
