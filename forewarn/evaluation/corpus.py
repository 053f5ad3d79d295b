"""Load labelled series: data/<category>/<name>.csv (NAB's layout), the windows JSON and the
profiles JSON, and set how much of each file is training history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import numpy as np

from forewarn.errors import InvalidInputError
from forewarn.evaluation.nab import (
    EvaluationError,
    FileLayout,
    FloatArray,
    IntArray,
    Profile,
    file_layout,
    probationary_rows,
    window_rows,
)
from forewarn.evaluation.series_csv import parse_timestamp_ms, read_series_csv

Window = tuple[int, int]
MIN_TRAIN_ROWS = 10  # fewer rows of history cannot fit any registered detector meaningfully


@dataclass(frozen=True)
class LabelledSeries:
    """One series (one metric, or every metric of a device) with its anomaly windows."""

    name: str  # e.g. "realKnownCause/machine_temperature_system_failure.csv"
    category: str  # e.g. "realKnownCause"; "" for a file outside any category folder
    ts_ms: IntArray
    values: FloatArray  # (n,) for one metric, (n, k) for a device's k metrics
    windows_ms: tuple[Window, ...]
    metrics: tuple[str, ...] = ("value",)
    train_rows: int | None = None  # rows of training history; None: NAB's probationary period

    @property
    def probation(self) -> int:
        """Rows the detector is fitted and primed on, never scored."""
        n_rows = len(self.ts_ms)
        return probationary_rows(n_rows) if self.train_rows is None else self.train_rows

    @property
    def nab_scorable(self) -> bool:
        """NAB's scores are defined here: one metric, NAB's probationary period."""
        return len(self.metrics) == 1 and self.train_rows is None


def scoring_layout(series: LabelledSeries) -> FileLayout:
    """The rows as the scorers see them: probation, windows with a scored row, fault rows.

    With NAB's probationary period this is NAB's own layout; with other training history
    only the probation and the scorable windows change (NAB's weights are then unused).
    """
    layout = file_layout(series.ts_ms, series.windows_ms)
    if series.train_rows is None:
        return layout
    rows = window_rows(series.ts_ms, series.windows_ms)
    scorable = rows[rows[:, 1] >= series.train_rows]
    return replace(layout, probation=series.train_rows, windows=scorable)


def load_series(csv_path: Path) -> tuple[IntArray, FloatArray]:
    """(ts_ms int64, values float64) of one CSV, rows in file order.

    Rows are not re-sorted: NAB replays and scores rows in file order, and a few real files
    repeat a timestamp or step back (e.g. ec2_request_latency_system_failure.csv).
    """
    table = read_series_csv(_existing(Path(csv_path)))
    return table.ts_ms, table.values


def _existing(path: Path) -> Path:
    """The path, or an error when no such file exists."""
    if not path.is_file():
        raise EvaluationError(f"series file not found: {path}")
    return path


def load_windows(json_path: Path) -> dict[str, list[Window]]:
    """Anomaly windows per file name (as in the JSON) as (start_ms, end_ms), both inclusive."""
    path = Path(json_path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        return {
            str(name): [(parse_timestamp_ms(a), parse_timestamp_ms(b)) for a, b in windows]
            for name, windows in table.items()
        }
    except OSError as err:
        raise EvaluationError(f"cannot read windows {path}: {err}") from err
    except (ValueError, TypeError, AttributeError) as err:
        raise EvaluationError(f"malformed windows {path}: {err!r}") from err


def load_profiles(path: Path) -> tuple[Profile, ...]:
    """Profiles from a NAB ``profiles.json`` (name -> CostMatrix of weights)."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
        return tuple(
            Profile(name, float(m["tpWeight"]), float(m["fpWeight"]), float(m["fnWeight"]))
            for name, entry in table.items()
            for m in (entry["CostMatrix"],)
        )
    except OSError as err:
        raise EvaluationError(f"cannot read profiles {path}: {err}") from err
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise EvaluationError(f"malformed profiles {path}: {err!r}") from err


def _labelled(name: str, csv_path: Path, windows: dict[str, list[Window]]) -> LabelledSeries:
    """Load one CSV and attach its windows, refusing a file the labels do not mention."""
    if name not in windows:
        raise EvaluationError(f"no anomaly windows for {name!r} in the labels")
    table = read_series_csv(_existing(csv_path))
    parts = PurePosixPath(name).parts
    category = parts[-2] if len(parts) > 1 else ""
    return LabelledSeries(
        name, category, table.ts_ms, table.values, tuple(windows[name]), table.metrics
    )


def _name_of_file(csv_path: Path, windows: dict[str, list[Window]], shown: str = "") -> str:
    """The labels' key for a CSV: the longest key its path ends with."""
    parts = csv_path.resolve().parts
    keys = {key: PurePosixPath(key).parts for key in windows}
    matches = [key for key, tail in keys.items() if parts[-len(tail) :] == tail]
    if not matches:
        raise EvaluationError(f"no anomaly windows for {shown or str(csv_path)!r} in the labels")
    return max(matches, key=len)


def _name_below(root: Path, csv_path: Path, windows: dict[str, list[Window]]) -> str:
    """The labels' key for a CSV below ``root``: its relative path, else the longest key
    its path ends with (so ``data/valve1/`` works with keys such as ``valve1/1.csv``)."""
    name = csv_path.relative_to(root).as_posix()
    return name if name in windows else _name_of_file(csv_path, windows, name)


def load_corpus(root_or_file: Path, labels_path: Path) -> list[LabelledSeries]:
    """A data directory (every *.csv below it, sorted by name) or one CSV, with its windows."""
    root = Path(root_or_file)
    windows = load_windows(labels_path)
    if root.is_file():
        return [_labelled(_name_of_file(root, windows), root, windows)]
    if not root.is_dir():
        raise EvaluationError(f"corpus not found: {root}")
    paths = sorted(root.rglob("*.csv"))
    if not paths:
        raise EvaluationError(f"no *.csv files below {root}")
    return [_labelled(_name_below(root, path, windows), path, windows) for path in paths]


def _train_rows(series: LabelledSeries, rows: int | None, until_ms: int | None) -> int:
    """Training rows of one file: the first ``rows``, those up to ``until_ms``, or NAB's."""
    if rows is not None:
        return rows
    if until_ms is not None:
        after = np.flatnonzero(series.ts_ms > until_ms)
        return int(after[0]) if len(after) else len(series.ts_ms)
    return series.probation


def _check_training(series: LabelledSeries, train: int, option: str) -> None:
    """Refuse too little history or nothing left to score, naming the file."""
    n_rows = len(series.ts_ms)
    if train < MIN_TRAIN_ROWS:
        raise InvalidInputError(
            (option,),
            f"{series.name}: {train} training rows; at least {MIN_TRAIN_ROWS} are needed "
            f"(the file has {n_rows} rows)",
        )
    if train >= n_rows:
        raise InvalidInputError(
            (option,), f"{series.name}: {n_rows} rows, all of them training; none left to score"
        )


def with_training(
    corpus: Sequence[LabelledSeries],
    *,
    train_rows: int | None = None,
    train_until_ms: int | None = None,
) -> list[LabelledSeries]:
    """Each file with its training history: its first ``train_rows`` rows, its rows up to
    ``train_until_ms`` (inclusive), or (neither given) NAB's probationary period."""
    if train_rows is not None and train_until_ms is not None:
        raise InvalidInputError(("train_rows",), "give train_rows or train_until, not both")
    option = "train_until" if train_until_ms is not None else "train_rows"
    explicit = train_rows is not None or train_until_ms is not None
    out = []
    for series in corpus:
        train = _train_rows(series, train_rows, train_until_ms)
        _check_training(series, train, option)
        out.append(replace(series, train_rows=train) if explicit else series)
    return out
