"""`forewarn monitor scan` and `forewarn monitor prune` against a data directory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from forewarn.cli.main import app
from forewarn.db.types import utcnow
from forewarn.runtime import Runtime, build_runtime
from forewarn.settings import Settings
from tests.factories import make_device, model_row


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory the CLI is pointed at, and no other FOREWARN_* setting."""
    for name in (
        "FOREWARN_DATABASE_URL",
        "FOREWARN_SECRET_KEY",
        "FOREWARN_MODEL_DIR",
        "FOREWARN_GITHUB_TOKEN",
        "FOREWARN_GITHUB_REPO",
        "FOREWARN_ESCALATION_WEBHOOK_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data"
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(path))
    return path


@pytest.fixture
def cli_runtime(data_dir: Path) -> Iterator[Runtime]:
    """A runtime on the CLI's data directory."""
    runtime = build_runtime(Settings(_env_file=None, data_dir=data_dir))
    yield runtime
    runtime.close()


def run(*args: str) -> Result:
    """Invoke `forewarn` with a wide console so that table cells are not cut."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.mark.slow
def test_scan_prints_a_table_of_findings(cli_runtime: Runtime) -> None:
    now = utcnow()
    device = make_device(cli_runtime, "Boiler 3")
    model_row(cli_runtime, device, "steam", trained=now - timedelta(days=9), used=now)
    model_row(cli_runtime, device, "water", trained=now - timedelta(hours=2), used=now)

    result = run("monitor", "scan")
    assert result.exit_code == 0, result.output
    assert "Health scan of 2 models (2 active)" in result.output
    assert "Model steam v1 of Boiler 3 needs retraining" in result.output
    assert "water" not in result.output
    assert "opened 1, resolved 0" in result.output

    again = run("monitor", "scan")
    assert "opened 0, resolved 0" in again.output


def test_prune_lists_then_deletes_old_versions(cli_runtime: Runtime) -> None:
    device = make_device(cli_runtime)
    for version in range(1, 5):
        model_row(cli_runtime, device, version=version, active=False, write_artifact=True)
    model_row(cli_runtime, device, version=5)

    dry = run("monitor", "prune", "--keep", "1", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would delete 3 inactive versions" in dry.output
    pruned = run("monitor", "prune", "--keep", "1")
    assert "deleted 3 inactive versions" in pruned.output
    assert "deleted 0 inactive versions" in run("monitor", "prune", "--keep", "1").output


def test_prune_refuses_a_negative_keep(data_dir: Path) -> None:
    result = run("monitor", "prune", "--keep", "-1")
    assert result.exit_code == 2
    assert "--keep" in result.output
