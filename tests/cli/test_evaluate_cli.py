"""`forewarn evaluate` on a tiny NAB-layout directory written by the test."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from forewarn.cli.evaluate_tables import scores_table
from forewarn.cli.main import app
from forewarn.detection.registry import ALGORITHMS, DEFAULT_ALGORITHM, DEVICE_ALGORITHM
from forewarn.evaluation.backtest import run_backtest
from forewarn.evaluation.corpus import load_corpus
from tests.evaluation.helpers import (
    METRICS,
    ROWS,
    TRAIN,
    fault_window,
    write_device_csv,
    write_labels,
)
from tests.evaluation.helpers import T0 as RIG_T0

pytestmark = pytest.mark.slow  # every test backtests series read from CSV files

T0 = 1_396_310_400_000  # 2014-04-01T00:00:00Z
STEP = 300_000
FILES = {"plant/pump.csv": (1, 600), "yard/fan.csv": (2, 500)}  # name: (seed, rows)
SPIKES = (300, 420)


def stamp(ms: int) -> str:
    """A timestamp as NAB writes it."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def write_file(path: Path, seed: int, n: int) -> list[list[str]]:
    """A noisy series with a spike and a dip in each window; returns its windows."""
    values = np.random.default_rng(seed).normal(20.0, 0.5, n)
    for k in SPIKES:
        values[k] += 10.0
        values[k + 2] -= 10.0
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{stamp(T0 + i * STEP)},{v:.3f}" for i, v in enumerate(values)]
    path.write_text("timestamp,value\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return [[stamp(T0 + (k - 5) * STEP) + ".000000", stamp(T0 + (k + 5) * STEP)] for k in SPIKES]


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(data directory, windows JSON) in NAB's layout; the working directory is tmp_path."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "nab" / "data"
    windows = {name: write_file(data / name, seed, n) for name, (seed, n) in FILES.items()}
    labels = tmp_path / "nab" / "labels.json"
    labels.write_text(json.dumps(windows), encoding="utf-8")
    return data, labels


def run(*args: str | Path) -> Result:
    """Invoke the `forewarn` command."""
    return CliRunner().invoke(app, [str(a) for a in args])


def flat(result: Result) -> str:
    """Output with line wrapping undone."""
    return " ".join(result.output.split())


def test_evaluate_prints_tables_and_writes_outputs(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    data, labels = corpus
    out = tmp_path / "results"
    result = run("evaluate", data, "--labels", labels, "--output", out)
    assert result.exit_code == 0, result.output
    text = flat(result)
    for expected in ("NAB score", "Events at the shipped decisions", "precision", "rows/s"):
        assert expected in text
    assert "Rows (anomalous)" in text and "NAB not shown" not in text
    assert "plant/pump.csv" in result.output.replace("\n", "").replace(" ", "")
    assert text.count(DEFAULT_ALGORITHM) >= 3  # per-file title, scores row, events row
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algorithm"] == DEFAULT_ALGORITHM and len(summary["series"]) == 2
    assert summary["events"]["shipped"]["windows"] == 4
    for name, (_, n) in FILES.items():
        lines = (out / name).read_text().splitlines()
        header = "timestamp,value,anomaly_score,is_anomaly,anomalous,event_id,label"
        assert lines[0] == header and len(lines) == n + 1
        assert (out / "plots" / name).with_suffix(".png").is_file()
    assert not (tmp_path / "forewarn-evaluation").exists()


def test_without_output_only_pngs_go_to_the_default_dir(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    data, labels = corpus
    result = run("evaluate", data / "plant" / "pump.csv", "--labels", labels)
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("forewarn-evaluation/**/*.*"))
    assert written == [Path("forewarn-evaluation/plots/plant/pump.png")]


def test_no_plots_writes_nothing(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    data, labels = corpus
    result = run("evaluate", data, "--labels", labels, "--no-plots", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "forewarn-evaluation").exists()


def test_two_algorithms_give_two_rows(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    names = [spec.name for spec in ALGORITHMS[:2]]
    if len(names) < 2:
        pytest.skip("only one algorithm is registered")
    data, labels = corpus
    args = [a for name in names for a in ("--algorithm", name)]
    result = run("evaluate", data, "--labels", labels, *args, "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    for name in names:
        assert flat(result).count(name) >= 3
        summary = json.loads((tmp_path / "out" / name / "summary.json").read_text())
        assert summary["algorithm"] == name


def test_scores_table_has_one_row_per_algorithm(corpus: tuple[Path, Path]) -> None:
    report = run_backtest(load_corpus(*corpus)[:1])
    table = scores_table([report, replace(report, algorithm="other")])
    assert table.row_count == 2
    console = Console(width=80, record=True)
    console.print(table)
    text = console.export_text()
    assert "other" in text and DEFAULT_ALGORITHM in text


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing labels", "cannot read windows"),
        ("bad csv", "bad row"),
        ("unlabelled file", "no anomaly windows"),
        ("unknown algorithm", "unknown algorithm"),
    ],
)
def test_errors_are_one_red_line_and_exit_1(
    corpus: tuple[Path, Path], tmp_path: Path, case: str, message: str
) -> None:
    data, labels = corpus
    args: list[str | Path] = ["evaluate", data, "--labels", labels]
    if case == "missing labels":
        args[3] = tmp_path / "nope.json"
    elif case == "bad csv":
        (data / "plant" / "pump.csv").write_text("timestamp,value\n2014-04-01 00:00:00,abc\n")
    elif case == "unlabelled file":
        write_file(data / "plant" / "extra.csv", 3, 500)
    else:
        args += ["--algorithm", "no-such-detector"]
    result = run(*args)
    assert result.exit_code == 1
    assert message in flat(result)
    assert "Traceback" not in result.output


def test_nab_files_with_custom_training_get_no_nab_scores(corpus: tuple[Path, Path]) -> None:
    data, labels = corpus
    result = run("evaluate", data, "--labels", labels, "--train-rows", "100", "--no-plots")
    assert result.exit_code == 0, result.output
    text = flat(result)
    assert "NAB not shown (custom training rows)" in text and "Rows (anomalous)" in text


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(data directory of two device CSVs, SKAB-style and plain, windows JSON)."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "rig"
    write_device_csv(data / "valve" / "1.csv", 1, sep=";", ts_name="datetime")
    write_device_csv(data / "valve" / "2.csv", 2)
    windows = {"valve/1.csv": [fault_window()], "valve/2.csv": [fault_window()]}
    return data, write_labels(tmp_path / "windows.json", windows)


def test_device_files_report_points_and_events_not_nab(
    rig: tuple[Path, Path], tmp_path: Path
) -> None:
    data, labels = rig
    out = tmp_path / "out"
    args = ("--train-rows", TRAIN, "--algorithm", "pca_spc", "--output", out, "--no-plots")
    result = run("evaluate", data, "--labels", labels, *args)
    assert result.exit_code == 0, result.output
    text = flat(result)
    assert "NAB not shown (multi-column input)" in text and "NAB score, 0..100" not in text
    for expected in ("Events at the shipped decisions", "Rows (anomalous)", "FAR %", "MAR %"):
        assert expected in text
    assert "valve/1.csv" in text and f"{2 * (ROWS - TRAIN):,}" in text
    header = (out / "valve" / "1.csv").read_text().splitlines()[0]
    assert (
        header
        == "timestamp," + ",".join(METRICS) + ",anomaly_score,is_anomaly,anomalous,event_id,label"
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["nab"] is None and summary["pointwise"]["tp"] + summary["pointwise"]["fn"] == 120


def test_device_files_default_to_the_device_level_detector(
    rig: tuple[Path, Path], tmp_path: Path
) -> None:
    data, labels = rig
    args = ("--train-rows", TRAIN, "--output", tmp_path / "out", "--no-plots")
    result = run("evaluate", data, "--labels", labels, *args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["algorithm"] == DEVICE_ALGORITHM


def test_train_until_sets_the_training_rows(rig: tuple[Path, Path], tmp_path: Path) -> None:
    data, labels = rig
    until = stamp(RIG_T0 + (TRAIN - 1) * 1000)
    args = ("--train-until", until, "--algorithm", "pca_spc", "--output", tmp_path / "o")
    result = run("evaluate", data / "valve" / "2.csv", "--labels", labels, *args, "--no-plots")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["series"][0]["probation"] == TRAIN


def _break(data: Path, labels: Path, case: str) -> list[str]:
    """Spoil the rig for one case; the extra arguments it needs."""
    target = data / "valve" / "2.csv"
    lines = target.read_text().splitlines()
    if case == "non-numeric":
        lines[5] = lines[5].rsplit(",", 1)[0] + ",high"
    elif case == "nul":
        lines[5] = lines[5].replace(",", ",\x00", 1)
    elif case == "missing column":
        lines[5] = lines[5].rsplit(",", 1)[0]
    elif case == "duplicate column":
        lines[0] = "timestamp,flow,flow,current"
    elif case == "not time-ordered":
        lines[5], lines[6] = lines[6], lines[5]
    elif case == "too few rows":
        lines = lines[:8]
    elif case == "unlabelled":
        labels.write_text(json.dumps({"valve/1.csv": []}))
    target.write_text("\n".join(lines) + "\n")
    return {
        "both": ["--train-until", "2020-03-09 10:40:00"],
        "bad until": ["--train-until", "soon"],
    }.get(case, [])


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("non-numeric", "valve/2.csv:6: bad row, column 'current': 'high' is not a number"),
        ("nul", "valve/2.csv:6: bad row, column 'flow': contains a NUL byte"),
        ("missing column", "valve/2.csv:6: bad row, column 'current' is missing"),
        ("duplicate column", "valve/2.csv:1: column 'flow' appears twice in the header"),
        ("not time-ordered", "valve/2.csv:7: bad row, column 'timestamp'"),
        ("too few rows", "--train-rows: valve/2.csv: 7 rows, all of them training"),
        ("unlabelled", "no anomaly windows for 'valve/2.csv' in the labels"),
        ("both", "give --train-rows or --train-until, not both"),
        ("bad until", "--train-until: 'soon' is not a timestamp"),
    ],
)
def test_bad_device_input_is_one_line_naming_where(
    rig: tuple[Path, Path], case: str, message: str
) -> None:
    data, labels = rig
    extra = _break(data, labels, case)
    train = [] if case == "bad until" else ["--train-rows", "100"]
    result = run("evaluate", data, "--labels", labels, *train, *extra, "--no-plots")
    assert result.exit_code == 1, result.output
    assert message in flat(result)
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
