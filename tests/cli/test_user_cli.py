"""`forewarn user create`: password from stdin, then the account works through the API."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from forewarn.api.app import create_app
from forewarn.cli.main import app
from forewarn.runtime import build_runtime
from forewarn.settings import Settings
from tests.factories import PASSWORD


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bare data dir as the only configuration (no database URL, secret or Redis)."""
    for name in list(os.environ):
        if name.startswith("FOREWARN_") and not name.startswith("FOREWARN_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    path = tmp_path / "data"
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(path))
    return path


def _create(email: str, stdin: str, *extra: str) -> Result:
    return CliRunner().invoke(app, ["user", "create", "--email", email, *extra], input=stdin)


def _login(data_dir: Path, email: str, password: str) -> tuple[int, dict[str, object]]:
    """Log in through the API of an installation on the same data dir; returns /me."""
    runtime = build_runtime(Settings(_env_file=None, data_dir=data_dir))
    try:
        with TestClient(create_app(runtime, own_runtime=False)) as client:
            login = client.post("/api/v1/auth/login", json={"email": email, "password": password})
            if login.status_code != 200:
                return login.status_code, login.json()
            token = login.json()["access_token"]
            me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            return me.status_code, me.json()
    finally:
        runtime.close()


@pytest.mark.slow
def test_created_user_can_log_in_through_the_api(data_dir: Path) -> None:
    result = _create("Ops@Example.com", f"{PASSWORD}\n", "--role", "operator")
    assert result.exit_code == 0, result.output
    assert "created ops@example.com (operator)" in result.output
    assert PASSWORD not in result.output

    status, me = _login(data_dir, "ops@example.com", PASSWORD)
    assert status == 200, me
    assert me["email"] == "ops@example.com" and me["role"] == "operator"
    assert str(me["id"]) in result.output


@pytest.mark.slow
def test_role_defaults_to_viewer(data_dir: Path) -> None:
    assert _create("v@example.com", f"{PASSWORD}\n").exit_code == 0
    assert _login(data_dir, "v@example.com", PASSWORD)[1]["role"] == "viewer"


@pytest.mark.parametrize("stdin", ["short-pw\n", "\n", ""], ids=["short", "empty-line", "eof"])
def test_short_password_fails_clearly_and_creates_nobody(data_dir: Path, stdin: str) -> None:
    result = _create("ops@example.com", stdin, "--role", "operator")
    assert result.exit_code != 0
    assert "password: " in result.output and "at least 12" in result.output
    assert _login(data_dir, "ops@example.com", stdin.strip() or "x")[0] == 401


def test_password_with_surrounding_whitespace_is_refused(data_dir: Path) -> None:
    result = _create("ops@example.com", f"  {PASSWORD}\n")
    assert result.exit_code != 0
    assert "whitespace" in result.output


@pytest.mark.slow
def test_duplicate_email_fails_and_keeps_the_first_password(data_dir: Path) -> None:
    assert _create("ops@example.com", f"{PASSWORD}\n").exit_code == 0
    again = _create("OPS@example.com", "a-different-password\n", "--role", "admin")
    assert again.exit_code != 0
    assert "already exists" in again.output
    status, me = _login(data_dir, "ops@example.com", PASSWORD)
    assert status == 200 and me["role"] == "viewer"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--email", "not-an-email"], "email"),
        (["--email", "a@example.com", "--role", "root"], "role"),
    ],
    ids=["bad-email", "bad-role"],
)
def test_invalid_options_fail_naming_the_option(
    data_dir: Path, args: list[str], needle: str
) -> None:
    result = CliRunner().invoke(app, ["user", "create", *args], input=f"{PASSWORD}\n")
    assert result.exit_code != 0
    assert needle in result.output
