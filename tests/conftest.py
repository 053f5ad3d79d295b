"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forewarn.api.app import create_app
from forewarn.db.engine import make_engine
from forewarn.db.migrate import upgrade
from forewarn.runtime import Runtime, build_runtime
from forewarn.security.roles import Role
from forewarn.settings import Settings
from tests.factories import Headers, make_settings, seed_user
from tests.support import empty_postgres_database, empty_tables


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
    empty_tables(url)
    return url


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
