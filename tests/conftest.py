"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from forewarn.api.app import create_app
from forewarn.db.engine import make_engine
from forewarn.db.migrate import upgrade
from forewarn.runtime import Runtime, build_runtime
from forewarn.schemas.auth import UserCreate
from forewarn.security.roles import Role
from forewarn.security.tokens import issue_token
from forewarn.services.users import create_user
from forewarn.settings import Settings

REQUIRE_SERVICES = os.environ.get("FOREWARN_TEST_REQUIRE_SERVICES") == "1"
TABLES = "anomaly_detections, ml_models, telemetry, devices, users"
PASSWORD = "correct-horse-battery"

Headers = dict[str, str]


def service_url(variable: str) -> str:
    """The URL of a real service for a test, or skip (fail under REQUIRE_SERVICES)."""
    url = os.environ.get(variable)
    if url:
        return url
    if REQUIRE_SERVICES:
        pytest.fail(f"{variable} is not set but FOREWARN_TEST_REQUIRE_SERVICES=1")
    pytest.skip(f"{variable} not set; this test needs a real service")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL database, migrated once for the whole run."""
    base = service_url("FOREWARN_TEST_DATABASE_URL")
    admin = make_engine(base)
    name = f"forewarn_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # a configured but unreachable server is a failure, not a skip
        pytest.fail(f"cannot use PostgreSQL at FOREWARN_TEST_DATABASE_URL: {err}")
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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
    """Create a user with a role; returns its id and Authorization headers."""

    def make(role: Role) -> tuple[uuid.UUID, Headers]:
        with runtime.sessions() as session:
            email = f"{role.value}-{secrets.token_hex(3)}@example.com"
            user = create_user(session, UserCreate(email=email, role=role, password=PASSWORD))
        token = issue_token(runtime.secret, user.id, role, timedelta(minutes=5))
        return user.id, {"Authorization": f"Bearer {token}"}

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
