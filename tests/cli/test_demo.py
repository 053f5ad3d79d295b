"""`forewarn demo --no-serve` end to end on an empty data directory, twice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from forewarn.cli.main import app
from forewarn.db.engine import make_engine
from forewarn.db.models import AnomalyDetection, Device, MLModel

PASSWORD_LINE = re.compile(r"^\W*password\s+(\S+)", re.MULTILINE)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bare data directory and no services, as on a fresh machine."""
    for variable in ("FOREWARN_DATABASE_URL", "FOREWARN_SECRET_KEY", "FOREWARN_REDIS_URL",
                     "FOREWARN_MODEL_DIR"):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "160")  # one table row per line
    monkeypatch.chdir(tmp_path)  # no stray .env file
    return tmp_path


# A fixed end: the simulated day's phase, and so what is caught, depends on it.
END = "2026-01-01T00:00:00Z"


def run_demo() -> Result:
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--end", END])
    assert result.exit_code == 0, result.output
    return result


def counts(data_dir: Path) -> tuple[int, int, int]:
    """Demo devices, active models and stored anomalies in the database."""
    engine = make_engine(f"sqlite:///{data_dir / 'forewarn.db'}")
    try:
        with engine.connect() as conn:
            devices = [m for (m,) in conn.execute(select(Device.metadata_)) if m.get("demo")]
            models = conn.scalar(select(func.count()).where(MLModel.is_active.is_(True)))
            anomalies = conn.scalar(select(func.count()).select_from(AnomalyDetection))
    finally:
        engine.dispose()
    return len(devices), models or 0, anomalies or 0


def fault_lines(output: str, kind: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(rf"\b{kind}\b", line)]


@pytest.mark.slow
def test_demo_on_empty_dir_then_again(data_dir: Path) -> None:
    first = run_demo().output
    passwords = PASSWORD_LINE.findall(first)
    assert len(passwords) == 1
    assert first.count(passwords[0]) == 1
    assert "Injected faults vs detections" in first and "Per series" in first
    spikes = fault_lines(first, "spike")
    assert len(spikes) == 2 and all("caught" in line for line in spikes)
    (dropout,) = fault_lines(first, "dropout")
    assert "missed (no readings to score)" in dropout
    devices, models, anomalies = counts(data_dir)
    assert (devices, models) == (3, 9) and anomalies > 0

    second = run_demo().output
    assert not PASSWORD_LINE.search(second) and passwords[0] not in second
    assert "already exists" in second
    assert counts(data_dir)[:2] == (3, 9)
    # model files of the removed devices are gone too
    assert len(list((data_dir / "models").iterdir())) == 3


def test_a_bad_end_is_one_clear_line(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--end", "yesterday"])
    assert result.exit_code == 2
    assert "is not ISO 8601" in result.output and "Traceback" not in result.output
