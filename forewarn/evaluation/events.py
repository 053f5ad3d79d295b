"""Event-level metrics: windows found, false-alarm events and detection delay.

Definitions (same scorable rows and windows as NAB scoring, see ``nab``):
- A window is one true event; it is detected when at least one scorable row in it is a
  detection. Its delay is from the window's first row to its first detection, in rows and ms.
- A false-positive event is a maximal group of detections outside every window in which each
  detection follows the previous one by at most ``merge_gap_rows`` rows with no window row in
  between (``merge_gap_rows=1``: runs of consecutive rows). An alert that stays raised over
  an excursion is one event, as an operator would count it.
- precision = detected windows / (detected windows + false events), recall = detected
  windows / windows, F1 = 2 TP / (2 TP + FP + FN); NaN where the denominator is zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from forewarn.errors import InvalidInputError
from forewarn.evaluation.nab import BoolArray, FileLayout, IntArray


@dataclass(frozen=True)
class WindowEvent:
    """One labelled window and when (if ever) it was first detected."""

    name: str
    start_row: int
    end_row: int
    first_detection: int | None
    delay_rows: int | None
    delay_ms: int | None


@dataclass(frozen=True)
class FileEvents:
    """The events of one file."""

    windows: tuple[WindowEvent, ...]
    false_events: int


@dataclass(frozen=True)
class EventMetrics:
    """Event-level precision, recall, F1 and delays over a corpus."""

    n_windows: int
    n_detected: int
    n_false_events: int
    precision: float
    recall: float
    f1: float
    median_delay_rows: float
    median_delay_ms: float
    windows: tuple[WindowEvent, ...]


def false_events(hits: BoolArray, in_window: BoolArray, merge_gap_rows: int = 1) -> int:
    """Number of false-positive events among detections outside windows."""
    if merge_gap_rows < 1:
        raise InvalidInputError(("merge_gap_rows",), "must be >= 1")
    rows = np.flatnonzero(hits & ~in_window)
    if not len(rows):
        return 0
    window_rows_before = np.cumsum(in_window)[rows]
    breaks = (np.diff(rows) > merge_gap_rows) | (np.diff(window_rows_before) > 0)
    return 1 + int(breaks.sum())


def _window_event(name: str, ts_ms: IntArray, hits: BoolArray, start: int, end: int) -> WindowEvent:
    """How one window was met by the detections."""
    found = np.flatnonzero(hits[start : end + 1])
    if not len(found):
        return WindowEvent(name, start, end, None, None, None)
    first = start + int(found[0])
    return WindowEvent(name, start, end, first, first - start, int(ts_ms[first] - ts_ms[start]))


def file_events(
    name: str,
    ts_ms: IntArray,
    layout: FileLayout,
    detections: npt.ArrayLike,
    merge_gap_rows: int = 1,
) -> FileEvents:
    """Events of one file; detections in the probationary period are ignored."""
    hits = np.array(detections, dtype=np.bool_)
    if hits.shape != (layout.n_rows,):
        raise InvalidInputError(("detections",), f"need {layout.n_rows} rows, got {hits.shape}")
    hits[: layout.probation] = False
    windows = tuple(_window_event(name, ts_ms, hits, a, b) for a, b in layout.windows.tolist())
    return FileEvents(windows, false_events(hits, layout.in_window, merge_gap_rows))


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when undefined."""
    return num / den if den else math.nan


def summarise(files: Sequence[FileEvents]) -> EventMetrics:
    """Pool the events of several files into corpus metrics."""
    windows = tuple(w for f in files for w in f.windows)
    found = [w for w in windows if w.first_detection is not None]
    n_false = sum(f.false_events for f in files)
    precision = _ratio(len(found), len(found) + n_false)
    recall = _ratio(len(found), len(windows))
    f1 = _ratio(2 * len(found), len(found) + n_false + len(windows))  # = 2PR/(P+R)
    rows = [float(w.delay_rows) for w in found if w.delay_rows is not None]
    ms = [float(w.delay_ms) for w in found if w.delay_ms is not None]
    return EventMetrics(
        len(windows),
        len(found),
        n_false,
        precision,
        recall,
        f1,
        float(np.median(rows)) if rows else math.nan,
        float(np.median(ms)) if ms else math.nan,
        windows,
    )
