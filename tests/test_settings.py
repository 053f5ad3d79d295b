"""Settings: the signing secret, database URL and paths, and a fresh install's accounts."""

from __future__ import annotations

import os
import secrets
import stat
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from forewarn.api.app import create_app
from forewarn.db.models import User
from forewarn.runtime import build_runtime
from forewarn.schemas.auth import UserCreate
from forewarn.security.roles import Role
from forewarn.security.tokens import issue_token, verify_token
from forewarn.services.users import create_user
from forewarn.settings import Settings, SettingsError
from tests.factories import PASSWORD
from tests.support import empty_postgres_database


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No FOREWARN_* setting from the caller's shell or a stray .env leaks into a test."""
    for name in list(os.environ):
        if name.startswith("FOREWARN_") and not name.startswith("FOREWARN_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _settings(data_dir: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, **values)  # type: ignore[arg-type]


def test_missing_secret_is_generated_once_with_private_mode(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    secret = _settings(data_dir).signing_secret()
    path = data_dir / "secret.key"
    assert path.read_text(encoding="utf-8").strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(secret) >= 32
    assert _settings(data_dir).signing_secret() == secret


def test_generated_secrets_differ_between_installations(tmp_path: Path) -> None:
    assert _settings(tmp_path / "a").signing_secret() != _settings(tmp_path / "b").signing_secret()


@pytest.mark.slow
def test_tokens_survive_a_restart_without_a_configured_secret(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = build_runtime(_settings(data_dir))
    with first.sessions() as session:
        user = create_user(
            session, UserCreate(email="ops@example.com", role=Role.OPERATOR, password=PASSWORD)
        )
    token = issue_token(first.secret, user.id, Role.OPERATOR, timedelta(minutes=5))
    first.close()

    second = build_runtime(_settings(data_dir))
    try:
        assert second.artifact_key == first.artifact_key
        with TestClient(create_app(second, own_runtime=False)) as client:
            me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "ops@example.com"
    finally:
        second.close()


def test_configured_secret_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    configured = secrets.token_urlsafe(40)
    settings = _settings(tmp_path / "data", secret_key=configured)
    assert settings.signing_secret() == configured
    assert not (tmp_path / "data" / "secret.key").exists()


def test_secret_key_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = secrets.token_urlsafe(40)
    monkeypatch.setenv("FOREWARN_SECRET_KEY", configured)
    runtime = build_runtime(_settings(tmp_path / "data"), migrate=False)
    runtime.close()
    token = issue_token(configured, uuid.uuid4(), Role.VIEWER, timedelta(minutes=1))
    assert verify_token(runtime.secret, token).role is Role.VIEWER


def test_a_kept_secret_that_is_too_short_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "secret.key").write_text("tiny\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="too short"):
        _settings(data_dir).signing_secret()


@pytest.mark.parametrize(
    "weak", ["secret", "changeme", "change-me", "password", "CHANGEME", "", "k" * 31]
)
def test_weak_or_short_secret_key_is_refused(
    weak: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREWARN_SECRET_KEY", weak)
    with pytest.raises(ValidationError) as caught:
        _settings(tmp_path)
    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [("secret_key",)]
    assert "at least 32" in errors[0]["msg"]


def test_secret_key_of_32_characters_is_accepted(tmp_path: Path) -> None:
    key = secrets.token_hex(16)
    assert _settings(tmp_path, secret_key=key).signing_secret() == key


@pytest.mark.parametrize(
    ("configured", "resolved"),
    [
        ("postgres://u:p@db:5432/fw", "postgresql+psycopg://u:p@db:5432/fw"),
        ("postgresql://u:p@db/fw", "postgresql+psycopg://u:p@db/fw"),
        ("postgresql+psycopg://u@db/fw", "postgresql+psycopg://u@db/fw"),
        ("sqlite:////var/lib/fw.db", "sqlite:////var/lib/fw.db"),
    ],
)
def test_database_url_from_environment_is_normalised(
    configured: str, resolved: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREWARN_DATABASE_URL", configured)
    assert _settings(tmp_path).resolved_database_url == resolved


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(_env_file=None)
    expected = (tmp_path / "forewarn-data" / "forewarn.db").resolve()
    assert settings.resolved_database_url == f"sqlite:///{expected}"


def test_data_dir_from_environment_places_database_and_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path / "site"))
    settings = Settings(_env_file=None)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'site' / 'forewarn.db'}"
    assert settings.resolved_model_dir == tmp_path / "site" / "models"


def test_model_dir_can_be_set_apart_from_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREWARN_MODEL_DIR", str(tmp_path / "artifacts"))
    assert _settings(tmp_path / "data").resolved_model_dir == tmp_path / "artifacts"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FOREWARN_RATE_LIMIT_LOGIN_PER_MINUTE", "0"),
        ("FOREWARN_ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
        ("FOREWARN_MAX_REQUEST_BYTES", "10"),
    ],
)
def test_out_of_range_numbers_are_refused_naming_the_setting(
    variable: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        _settings(tmp_path)
    assert [e["loc"] for e in caught.value.errors()] == [
        (variable.removeprefix("FOREWARN_").lower(),)
    ]


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """A database nobody has migrated yet (None: the default SQLite file in the data dir)."""
    if request.param == "sqlite":
        yield None
        return
    with empty_postgres_database("forewarn_fresh") as url:
        yield url


@pytest.mark.slow
def test_fresh_install_has_no_default_account(
    fresh_database_url: str | None, tmp_path: Path
) -> None:
    runtime = build_runtime(_settings(tmp_path / "data", database_url=fresh_database_url))
    try:
        with runtime.sessions() as session:
            assert session.scalar(select(func.count()).select_from(User)) == 0
        with TestClient(create_app(runtime, own_runtime=False)) as client:
            login = client.post(
                "/api/v1/auth/login", json={"email": "admin@example.com", "password": "admin"}
            )
        assert login.status_code == 401
    finally:
        runtime.close()
