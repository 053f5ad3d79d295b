"""`forewarn import-csv` and `forewarn train` against a data directory, as an operator runs them."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from forewarn.cli.main import app
from forewarn.db.models import MLModel, Telemetry
from forewarn.runtime import Runtime, build_runtime
from forewarn.settings import Settings
from tests.factories import make_device

T0 = 1_730_000_000_000  # 2024-10-27T03:33:20Z
STEP_MS = 10 * 60_000
ROWS = 300


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory that the CLI is pointed at, and nothing else from the env."""
    for name in (
        "FOREWARN_DATABASE_URL",
        "FOREWARN_SECRET_KEY",
        "FOREWARN_REDIS_URL",
        "FOREWARN_MODEL_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    path = tmp_path / "data"
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(path))
    return path


@pytest.fixture
def runtime(data_dir: Path) -> Iterator[Runtime]:
    """A runtime on the same data directory as the CLI (migrates the SQLite file)."""
    rt = build_runtime(Settings(_env_file=None, data_dir=data_dir))
    yield rt
    rt.close()


@pytest.fixture
def device_id(runtime: Runtime) -> uuid.UUID:
    """A registered device."""
    return make_device(runtime, "Chiller 1", "chiller")


def run(*args: str) -> Result:
    """Invoke the `forewarn` command."""
    return CliRunner().invoke(app, list(args))


def flat(result: Result) -> str:
    """Output with line wrapping undone (rich wraps at the console width)."""
    return " ".join(result.output.split())


def readings(runtime: Runtime, device_id: uuid.UUID) -> dict[tuple[str, int], float]:
    """Stored telemetry of a device as {(metric, ts): value}."""
    with runtime.sessions() as session:
        rows = session.execute(
            select(Telemetry.metric_name, Telemetry.ts, Telemetry.value).where(
                Telemetry.device_id == device_id
            )
        )
        return {(m, int(t)): float(v) for m, t, v in rows}


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """A CSV with a header taken from the first row."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def iso(ms: int) -> str:
    """ISO 8601 with a Z suffix."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def sample_rows() -> tuple[list[dict[str, str]], dict[tuple[str, int], float]]:
    """CSV rows (ISO and epoch-ms timestamps alternating, some empty cells) and what to expect."""
    rng = np.random.default_rng(11)
    temperature = np.round(rng.normal(25, 0.5, ROWS), 2)
    humidity = np.round(rng.normal(55, 2, ROWS), 1)
    rows, expected = [], {}
    for i in range(ROWS):
        ts = T0 - (ROWS - 1 - i) * STEP_MS
        row = {
            "timestamp": iso(ts) if i % 2 else str(ts),
            "temperature": str(temperature[i]),
            "humidity": str(humidity[i]),
            "pressure": "1013.2",
        }
        if i % 7 == 3:
            row["humidity"] = ""  # a missing reading
        if i % 50 == 10:
            row["temperature"] = "  "
        rows.append(row)
        for metric in ("temperature", "humidity"):
            if row[metric].strip():
                expected[(metric, ts)] = float(row[metric])
    return rows, expected


def import_csv(path: Path, device_id: uuid.UUID) -> Result:
    """The documented import command for temperature and humidity."""
    return run(
        "import-csv",
        str(path),
        "--device",
        str(device_id),
        "--metric",
        "temperature",
        "--metric",
        "humidity",
        "--ts-column",
        "timestamp",
    )


def test_import_then_train(tmp_path: Path, runtime: Runtime, device_id: uuid.UUID) -> None:
    rows, expected = sample_rows()
    result = import_csv(write_csv(tmp_path / "history.csv", rows), device_id)
    assert result.exit_code == 0, result.output
    assert f"imported {len(expected)} readings" in flat(result)
    assert "0 scored, 0 anomalies" in flat(result)  # no model yet: stored, not scored
    assert readings(runtime, device_id) == expected  # pressure was not asked for

    trained = run("train", "--device", str(device_id), "--metric", "temperature", "--days", "7")
    assert trained.exit_code == 0, trained.output
    with runtime.sessions() as session:
        models = session.scalars(select(MLModel).where(MLModel.device_id == device_id)).all()
    assert len(models) == 1
    (model,) = models
    assert model.is_active and model.metric_name == "temperature" and model.version == 1
    assert model.sample_count == sum(1 for metric, _ in expected if metric == "temperature")
    assert model.parameters["training_window_days"] == 7
    assert (runtime.registry.model_dir / model.artifact_path).stat().st_size == (
        model.artifact_size
    )
    assert str(model.id) in flat(trained)


@pytest.mark.parametrize(
    ("column", "cell", "reason"),
    [
        ("humidity", "n/a", "is not a number"),
        ("humidity", "NaN", "finite"),
        ("temperature", "inf", "finite"),
        ("temperature", "25,3", "is not a number"),
        ("timestamp", "yesterday", "ISO 8601"),
        ("timestamp", "1730000000", "seconds"),
    ],
)
def test_a_bad_cell_names_line_and_column_and_imports_nothing(
    tmp_path: Path, runtime: Runtime, device_id: uuid.UUID, column: str, cell: str, reason: str
) -> None:
    rows, _ = sample_rows()
    rows[240][column] = cell  # data line 240 is line 242 of the file (after the header)
    result = import_csv(write_csv(tmp_path / "bad.csv", rows), device_id)
    assert result.exit_code != 0
    message = flat(result)
    assert f"line 242, column '{column}'" in message and reason in message
    assert "nothing was imported" in message
    assert readings(runtime, device_id) == {}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"timestamp,temperature,humidity\n1730000000000,21.5,\xff\xfe\n", "not UTF-8"),
        (
            b"timestamp,temperature,humidity\n1730000000000,21.5,40\n1730000060000,"
            + b"9" * 200_000
            + b",40\n",
            "after line 2: field larger than field limit",
        ),
    ],
)
def test_an_unreadable_file_is_one_line_and_imports_nothing(
    tmp_path: Path, runtime: Runtime, device_id: uuid.UUID, content: bytes, reason: str
) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    result = import_csv(path, device_id)
    assert result.exit_code == 1
    assert reason in flat(result) and "nothing was imported" in flat(result)
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
    assert readings(runtime, device_id) == {}


def test_unknown_device_and_missing_column_import_nothing(
    tmp_path: Path, runtime: Runtime, device_id: uuid.UUID
) -> None:
    rows, _ = sample_rows()
    path = write_csv(tmp_path / "history.csv", rows)
    unknown = import_csv(path, uuid.uuid4())
    assert unknown.exit_code != 0 and "not found" in flat(unknown)
    missing = run("import-csv", str(path), "--device", str(device_id), "--metric", "vibration")
    assert missing.exit_code != 0 and "vibration" in flat(missing)
    assert readings(runtime, device_id) == {}


def test_train_with_too_few_readings_fails_and_says_how_many(
    tmp_path: Path, runtime: Runtime, device_id: uuid.UUID
) -> None:
    rows, _ = sample_rows()
    assert import_csv(write_csv(tmp_path / "few.csv", rows[:6]), device_id).exit_code == 0
    result = run("train", "--device", str(device_id), "--metric", "temperature")
    assert result.exit_code != 0
    assert "found 6 readings" in flat(result)
    with runtime.sessions() as session:
        assert session.scalars(select(MLModel)).all() == []
