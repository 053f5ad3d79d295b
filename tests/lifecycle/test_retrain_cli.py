"""`forewarn retrain` against a data directory, as an operator runs it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from forewarn.cli.main import app
from forewarn.db.models import MLModel
from forewarn.lifecycle.training import TrainSpec, train_model
from forewarn.runtime import Runtime, build_runtime
from forewarn.settings import Settings
from tests.factories import DAY_ROWS, T0, make_device, normal_readings, store_readings


@pytest.fixture
def cli_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A runtime on the data directory the CLI is pointed at (nothing else from the env)."""
    for name in ("FOREWARN_DATABASE_URL", "FOREWARN_SECRET_KEY", "FOREWARN_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path / "data"))
    rt = build_runtime(Settings(_env_file=None, data_dir=tmp_path / "data"))
    yield rt
    rt.close()


def run(*args: str) -> Result:
    """Invoke the CLI with a wide terminal so tables are not wrapped."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def _shifted_series(runtime: Runtime) -> uuid.UUID:
    """A model trained on a week at 25, then two days at a new level of 30."""
    device = make_device(runtime)
    week = normal_readings(7 * DAY_ROWS, start=T0)
    store_readings(runtime, device, week)
    spec = TrainSpec(device, "temperature", algorithm="isolation_forest", n_estimators=25)
    with runtime.sessions() as session:
        train_model(session, runtime.registry, runtime.artifact_key, spec)
    store_readings(
        runtime, device, normal_readings(2 * DAY_ROWS, start=week.end, mean=30.0, seed=1)
    )
    return device


def _versions(runtime: Runtime) -> list[tuple[int, str]]:
    with runtime.sessions() as session:
        rows = session.scalars(select(MLModel).order_by(MLModel.version))
        return [(m.version, m.status) for m in rows]


def test_dry_run_then_retrain_a_device(cli_runtime: Runtime) -> None:
    device = _shifted_series(cli_runtime)
    dry = run("retrain", "--all", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would promote" in dry.output and "1 of 1 would be promoted" in dry.output
    assert _versions(cli_runtime) == [(1, "active")]
    done = run("retrain", "--device", str(device), "--metric", "temperature")
    assert done.exit_code == 0, done.output
    assert "promoted" in done.output and "144 → " in done.output
    assert _versions(cli_runtime) == [(1, "inactive"), (2, "active")]


def test_nothing_due_and_bad_options(cli_runtime: Runtime) -> None:
    _shifted_series(cli_runtime)
    idle = run("retrain")
    assert idle.exit_code == 0 and "no series to retrain" in idle.output  # trained just now
    assert run("retrain", "--metric", "temperature").exit_code == 2
    assert run("retrain", "--all", "--device", str(uuid.uuid4())).exit_code == 2
