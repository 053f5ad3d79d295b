"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import text

from forewarn.api.app import create_app
from forewarn.db.engine import make_engine
from forewarn.db.migrate import upgrade
from forewarn.db.models import Base, User
from forewarn.runtime import Runtime, build_runtime
from forewarn.security.roles import Role
from forewarn.security.tokens import issue_token
from forewarn.settings import Settings

REQUIRE_SERVICES = os.environ.get("FOREWARN_TEST_REQUIRE_SERVICES") == "1"
# Every table, children first: emptied before each PostgreSQL test.
TABLES = ", ".join(table.name for table in reversed(Base.metadata.sorted_tables))
PASSWORD = "correct-horse-battery"

Headers = dict[str, str]


@functools.cache
def cheap_password_hash() -> str:
    """An argon2id hash of PASSWORD at test-sized cost.

    Login verifies with the hash's own parameters, so seeded users log in quickly (the
    tests that create users through the API or CLI still pay the production cost).
    """
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


@dataclass(frozen=True)
class SeededUser:
    """A user written straight to the database: its id, email and bearer headers."""

    id: uuid.UUID
    email: str
    headers: Headers


def seed_user(
    runtime: Runtime,
    role: Role = Role.VIEWER,
    *,
    email: str | None = None,
    is_active: bool = True,
) -> SeededUser:
    """Insert a user with PASSWORD (cheap hash) and issue it a real 10-minute token."""
    if email is None:
        email = f"{role.value}-{secrets.token_hex(4)}@example.com"
    with runtime.sessions() as session:
        user = User(
            email=email,
            role=role.value,
            password_hash=cheap_password_hash(),
            is_active=is_active,
        )
        session.add(user)
        session.commit()
        user_id = user.id
    token = issue_token(runtime.secret, user_id, role, timedelta(minutes=10))
    return SeededUser(id=user_id, email=email, headers={"Authorization": f"Bearer {token}"})


def service_url(variable: str) -> str:
    """The URL of a real service for a test, or skip (fail under REQUIRE_SERVICES)."""
    url = os.environ.get(variable)
    if url:
        return url
    if REQUIRE_SERVICES:
        pytest.fail(f"{variable} is not set but FOREWARN_TEST_REQUIRE_SERVICES=1")
    pytest.skip(f"{variable} not set; this test needs a real service")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    """Poll `check` until it holds; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def served_app(runtime: Runtime) -> Iterator[int]:
    """The app on `runtime`, served by uvicorn in a thread on a free port (yielded); its
    logging is left to pytest."""
    port = free_port()
    config = uvicorn.Config(create_app(runtime, own_runtime=False), port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, "uvicorn to start")
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def empty_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty database on FOREWARN_TEST_DATABASE_URL's server, dropped afterwards."""
    admin = make_engine(service_url("FOREWARN_TEST_DATABASE_URL"))
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # a configured but unreachable server is a failure, not a skip
        pytest.fail(f"cannot use PostgreSQL at FOREWARN_TEST_DATABASE_URL: {err}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL database, migrated once for the whole run."""
    with empty_postgres_database("forewarn_test") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file copied for each test (migrating every time is slow)."""
    path = tmp_path_factory.mktemp("template") / "forewarn.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database on each backend."""
    if request.param == "sqlite":
        target = tmp_path / "forewarn.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} CASCADE"))
    engine.dispose()
    return url


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    """Settings for a test: its own data dir, a random secret, generous limits."""
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret_key": secrets.token_urlsafe(40),
        "rate_limit_user_per_minute": 100_000,
        "rate_limit_ip_per_minute": 100_000,
        "rate_limit_login_per_minute": 1000,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings pointing at this test's database."""
    return make_settings(tmp_path, database_url)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime on the migrated test database."""
    rt = build_runtime(settings, migrate=False)
    yield rt
    rt.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """An HTTP client for the app (lifespan included)."""
    with TestClient(create_app(runtime, own_runtime=False)) as test_client:
        yield test_client


@pytest.fixture
def make_user(runtime: Runtime) -> Callable[[Role], tuple[uuid.UUID, Headers]]:
    """Seed a user with a role; returns its id and Authorization headers."""

    def make(role: Role) -> tuple[uuid.UUID, Headers]:
        user = seed_user(runtime, role)
        return user.id, user.headers

    return make


@pytest.fixture
def admin(make_user: Callable[[Role], tuple[uuid.UUID, Headers]]) -> Headers:
    """Headers of an admin."""
    return make_user(Role.ADMIN)[1]


@pytest.fixture
def operator(make_user: Callable[[Role], tuple[uuid.UUID, Headers]]) -> Headers:
    """Headers of an operator."""
    return make_user(Role.OPERATOR)[1]


@pytest.fixture
def viewer(make_user: Callable[[Role], tuple[uuid.UUID, Headers]]) -> Headers:
    """Headers of a viewer."""
    return make_user(Role.VIEWER)[1]
