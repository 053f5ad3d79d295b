"""Small multi-sensor CSVs with a labelled fault, written by the evaluation and CLI tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

T0 = 1_583_750_000_000  # 2020-03-09T10:33:20Z
STEP = 1_000  # one reading a second, as on SKAB's rig
METRICS = ("flow", "pressure", "current")
ROWS = 600
TRAIN = 200
FAULT = (400, 459)  # rows of the fault window, inclusive


def stamp(ms: int) -> str:
    """A timestamp as SKAB and NAB write it (UTC, whole seconds)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def device_readings(seed: int, rows: int = ROWS) -> np.ndarray:
    """(rows, 3) correlated readings; pressure jumps by 40 sigmas during the fault."""
    rng = np.random.default_rng(seed)
    load = rng.normal(0.0, 1.0, rows)
    values = np.column_stack(
        [
            30.0 + 2.0 * load + rng.normal(0, 0.2, rows),
            1.0 + 0.1 * load + rng.normal(0, 0.01, rows),
            5.0 + 0.5 * load + rng.normal(0, 0.05, rows),
        ]
    )
    a, b = FAULT
    if b < rows:
        values[a : b + 1, 1] += 0.4
    return values


def write_device_csv(path: Path, seed: int, *, sep: str = ",", ts_name: str = "timestamp") -> Path:
    """A device's CSV: a timestamp column and one column per metric."""
    values = device_readings(seed)
    lines = [sep.join([ts_name, *METRICS])]
    lines += [
        sep.join([stamp(T0 + k * STEP), *(f"{v:.5f}" for v in row)]) for k, row in enumerate(values)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fault_window() -> list[str]:
    """The fault as a label window (NAB's layout: start and end, inclusive)."""
    return [stamp(T0 + FAULT[0] * STEP), stamp(T0 + FAULT[1] * STEP)]


def write_labels(path: Path, windows: dict[str, list[list[str]]]) -> Path:
    """A windows JSON in NAB's combined_windows.json layout."""
    path.write_text(json.dumps(windows), encoding="utf-8")
    return path
