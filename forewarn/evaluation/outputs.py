"""Write a backtest in NAB's results layout (one CSV per series) plus summary.json.

A results CSV is ``<category>/<name>.csv`` with the columns NAB's scorer reads:
``timestamp,value,anomaly_score,is_anomaly``. Timestamps are written as NAB writes them
(``YYYY-MM-DD HH:MM:SS``, UTC), the score is 0 on probationary rows, and ``is_anomaly`` is
the product's own shipped decision (0/1), so the results can be re-scored elsewhere.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path, PurePosixPath

import numpy as np
import numpy.typing as npt

from forewarn.evaluation.backtest import BacktestReport, SeriesFigures, report_to_dict
from forewarn.evaluation.nab import EvaluationError, IntArray

RESULTS_HEADER = ("timestamp", "value", "anomaly_score", "is_anomaly")
SUMMARY_NAME = "summary.json"


def nab_timestamps(ts_ms: IntArray) -> npt.NDArray[np.str_]:
    """Epoch ms as NAB's ``YYYY-MM-DD HH:MM:SS`` (UTC, whole seconds)."""
    seconds = np.asarray(ts_ms, dtype=np.int64).astype("datetime64[ms]").astype("datetime64[s]")
    return np.char.replace(np.datetime_as_string(seconds, unit="s"), "T", " ")


def relative_path(name: str, suffix: str = ".csv") -> PurePosixPath:
    """A series name (``<category>/<file>.csv``) as a safe relative path with ``suffix``."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.name:
        raise EvaluationError(f"series name {name!r} cannot be used as a file path")
    return path.with_suffix(suffix)


def write_results_csv(path: Path, figures: SeriesFigures) -> Path:
    """One series' rows in NAB's results layout."""
    scores = np.nan_to_num(figures.replay.scores, nan=0.0, posinf=0.0, neginf=0.0)
    rows = zip(
        nab_timestamps(figures.series.ts_ms).tolist(),
        figures.series.values.tolist(),
        scores.tolist(),
        figures.replay.is_anomaly.astype(np.int8).tolist(),
        strict=True,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(RESULTS_HEADER)
        writer.writerows((stamp, repr(v), repr(s), flag) for stamp, v, s, flag in rows)
    return path


def write_results(report: BacktestReport, root: Path) -> list[Path]:
    """Every series' results CSV below ``root``."""
    return [write_results_csv(Path(root) / relative_path(f.series.name), f) for f in report.series]


def write_summary(report: BacktestReport, root: Path) -> Path:
    """``summary.json``: every figure of the report (null where a figure is undefined)."""
    path = Path(root) / SUMMARY_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report_to_dict(report), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path
