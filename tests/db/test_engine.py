"""PostgreSQL connections that sat idle are checked before use; dead ones are replaced."""

from __future__ import annotations

from sqlalchemy import Engine, text

from forewarn.db.engine import make_engine
from tests.support import service_url


def _terminate_other_backends(url: str) -> int:
    """Kill every other connection to the database, as a server restart would."""
    admin = make_engine(url)
    with admin.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    admin.dispose()
    return int(killed)


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_an_idle_connection_killed_by_the_server_is_replaced_not_used(
    postgres_url: str,
) -> None:
    service_url("FOREWARN_TEST_DATABASE_URL")
    engine = make_engine(postgres_url, idle_ping_s=0.0)  # every checkout counts as idle
    first = _backend_pid(engine)
    assert _terminate_other_backends(postgres_url) >= 1
    second = _backend_pid(engine)  # would raise OperationalError without the ping
    assert second != first
    engine.dispose()


def test_a_recently_used_connection_is_not_pinged(postgres_url: str) -> None:
    service_url("FOREWARN_TEST_DATABASE_URL")
    engine = make_engine(postgres_url, idle_ping_s=3600.0)
    pings: list[int] = []
    original = engine.dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        pings.append(1)
        return original(dbapi_connection)  # type: ignore[arg-type]

    engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]
    first = _backend_pid(engine)
    assert pings == [], "a new connection needs no ping"
    assert _backend_pid(engine) == first
    assert pings == [], "a connection back in the pool moments ago is used as is"
    engine.dispose()
