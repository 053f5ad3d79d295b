"""Write a backtest in NAB's results layout (one CSV per series) plus summary.json.

A results CSV is ``<category>/<name>.csv``: ``timestamp``, the value column(s) (``value``
for a NAB file, one per metric for a device's file), ``anomaly_score``, ``is_anomaly``, then
``anomalous``, ``event_id`` and ``label``. The first four are the columns NAB's scorer reads.
Timestamps are written as NAB writes them (``YYYY-MM-DD HH:MM:SS``, UTC), the score is the
detector's own (0 on training rows), ``is_anomaly`` (a new event) and ``anomalous`` (inside
an excursion) are the product's decisions (0/1), ``event_id`` names the excursion an
anomalous row belongs to (empty otherwise) and ``label`` is 1 inside a label window.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path, PurePosixPath

import numpy as np
import numpy.typing as npt

from forewarn.detection.events import event_id
from forewarn.evaluation.backtest import BacktestReport, SeriesFigures, report_to_dict
from forewarn.evaluation.corpus import scoring_layout
from forewarn.evaluation.nab import EvaluationError, IntArray

NAB_COLUMNS = ("anomaly_score", "is_anomaly")
EVENT_COLUMNS = ("anomalous", "event_id", "label")
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


def results_header(figures: SeriesFigures) -> tuple[str, ...]:
    """``timestamp``, the value columns, then the decision columns."""
    return ("timestamp", *figures.series.metrics, *NAB_COLUMNS, *EVENT_COLUMNS)


def _event_ids(figures: SeriesFigures) -> list[str]:
    """The event id of each anomalous row (scope: the series name), "" elsewhere."""
    replay, name = figures.replay, figures.series.name
    return [
        event_id(name, start) if inside else ""
        for inside, start in zip(
            replay.anomalous.tolist(), replay.event_start.tolist(), strict=True
        )
    ]


def _rows(figures: SeriesFigures) -> list[list[object]]:
    """Every row of the results CSV, in input order."""
    replay, values = figures.replay, figures.series.values
    scores = np.nan_to_num(replay.scores, nan=0.0, posinf=0.0, neginf=0.0).tolist()
    readings = values.reshape(len(values), -1).tolist()
    labels = scoring_layout(figures.series).in_window.astype(np.int8).tolist()
    columns = zip(
        nab_timestamps(figures.series.ts_ms).tolist(),
        readings,
        scores,
        replay.is_anomaly.astype(np.int8).tolist(),
        replay.anomalous.astype(np.int8).tolist(),
        _event_ids(figures),
        labels,
        strict=True,
    )
    return [
        [stamp, *map(repr, reading), repr(score), flag, inside, ident, label]
        for stamp, reading, score, flag, inside, ident, label in columns
    ]


def write_results_csv(path: Path, figures: SeriesFigures) -> Path:
    """One series' rows in NAB's results layout, the event columns appended."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(results_header(figures))
        writer.writerows(_rows(figures))
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
