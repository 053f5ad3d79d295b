"""Read one series file: a timestamp column and one column per metric, as one device.

NAB's ``timestamp,value`` files are the one-metric case. Any other header is a device's
multi-sensor table: ``timestamp`` (or ``datetime``, as SKAB writes it) and one column per
metric, separated by ``,`` or ``;``. SKAB's label columns (``anomaly``, ``changepoint``) are
never read as metrics: labels come from the windows JSON. Every refusal is one line naming
the file, the line and the column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from forewarn.evaluation.nab import EvaluationError, FloatArray, IntArray

TIMESTAMP_COLUMNS = ("timestamp", "datetime")
LABEL_COLUMNS = frozenset({"anomaly", "changepoint"})  # SKAB's labels, never metrics
NAB_HEADER = ("timestamp", "value")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def parse_timestamp_ms(text: str) -> int:
    """Epoch ms of an ISO timestamp such as "2014-04-01 00:00:00"; naive means UTC."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MS


@dataclass(frozen=True)
class SeriesTable:
    """A file's readings in file order: values (n,) for one metric, (n, k) for k metrics."""

    metrics: tuple[str, ...]
    ts_ms: IntArray
    values: FloatArray


@dataclass(frozen=True)
class _Header:
    """Where the timestamp and each metric sit in a row."""

    names: tuple[str, ...]
    ts_index: int
    metric_index: tuple[int, ...]

    @property
    def in_time_order(self) -> bool:
        """Whether rows must be strictly time-ordered (NAB files repeat a few timestamps)."""
        return tuple(self.names) != NAB_HEADER


def _delimiter(first_line: str) -> str:
    """``;`` when the header holds more of them than commas (SKAB), else ``,``."""
    return ";" if first_line.count(";") > first_line.count(",") else ","


def _header(path: Path, row: Sequence[str]) -> _Header:
    """The header's columns, refusing a missing timestamp, a blank or a repeated name."""
    names = tuple(name.strip() for name in row)
    for k, name in enumerate(names):
        if not name:
            raise EvaluationError(f"{path}:1: column {k + 1} of the header has no name")
        if name in names[:k]:
            raise EvaluationError(f"{path}:1: column {name!r} appears twice in the header")
    found = [k for k, name in enumerate(names) if name.lower() in TIMESTAMP_COLUMNS]
    if not found:
        raise EvaluationError(f"{path}:1: header has no 'timestamp' or 'datetime' column")
    metrics = tuple(
        k for k, name in enumerate(names) if k != found[0] and name.lower() not in LABEL_COLUMNS
    )
    if not metrics:
        raise EvaluationError(f"{path}:1: header has no value column besides {names[found[0]]!r}")
    return _Header(names, found[0], metrics)


def _cell(path: Path, line: int, column: str, text: str) -> str:
    """A cell's text, refusing NUL bytes."""
    if "\x00" in text:
        raise EvaluationError(f"{path}:{line}: bad row, column {column!r}: contains a NUL byte")
    return text


def _number(path: Path, line: int, column: str, text: str) -> float:
    """A finite float, or an error naming the cell."""
    try:
        value = float(_cell(path, line, column, text))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise EvaluationError(
            f"{path}:{line}: bad row, column {column!r}: {text[:40]!r} is not a number"
        )
    return value


def _stamp(path: Path, line: int, column: str, text: str) -> int:
    """Epoch ms of a timestamp cell, or an error naming the cell."""
    try:
        return parse_timestamp_ms(_cell(path, line, column, text))
    except ValueError as err:
        raise EvaluationError(
            f"{path}:{line}: bad row, column {column!r}: {text[:40]!r} is not a timestamp"
        ) from err


def _width(path: Path, line: int, row: Sequence[str], header: _Header) -> None:
    """Refuse a row with fewer or more fields than the header, naming the first missing one."""
    if len(row) < len(header.names):
        missing = header.names[len(row)]
        raise EvaluationError(
            f"{path}:{line}: bad row, column {missing!r} is missing "
            f"({len(row)} fields, the header has {len(header.names)})"
        )
    if len(row) > len(header.names):
        raise EvaluationError(
            f"{path}:{line}: bad row: {len(row)} fields, the header has {len(header.names)}"
        )


def _rows(
    path: Path, reader: Iterator[list[str]], header: _Header
) -> Iterator[tuple[int, list[str]]]:
    """(line, fields) of each non-blank row, checked for its width."""
    line = 1
    for row in reader:
        line += 1
        if not any(field.strip() for field in row):
            continue
        _width(path, line, row, header)
        yield line, row


def _parse(
    path: Path, reader: Iterator[list[str]], header: _Header
) -> tuple[list[int], list[list[float]]]:
    """Timestamps and readings of every row, checking time order where it is required."""
    stamps: list[int] = []
    readings: list[list[float]] = []
    ts_name = header.names[header.ts_index]
    for line, row in _rows(path, reader, header):
        ts = _stamp(path, line, ts_name, row[header.ts_index])
        if header.in_time_order and stamps and ts <= stamps[-1]:
            raise EvaluationError(
                f"{path}:{line}: bad row, column {ts_name!r}: {row[header.ts_index].strip()!r} "
                "is not after the previous row's (rows must be in time order)"
            )
        stamps.append(ts)
        readings.append([_number(path, line, header.names[k], row[k]) for k in header.metric_index])
    return stamps, readings


def _table(path: Path, header: _Header, stamps: list[int], rows: list[list[float]]) -> SeriesTable:
    """The parsed rows as arrays: one metric as (n,), several as (n, k)."""
    if not stamps:
        raise EvaluationError(f"{path}: no rows after the header")
    metrics = tuple(header.names[k] for k in header.metric_index)
    values = np.array(rows, dtype=np.float64).reshape(len(rows), len(metrics))
    flat = values[:, 0].copy() if len(metrics) == 1 else values
    return SeriesTable(metrics, np.array(stamps, dtype=np.int64), flat)


def read_series_csv(path: Path) -> SeriesTable:
    """One series file's readings, in file order (a NAB file may repeat a timestamp)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            first = handle.readline()
            handle.seek(0)
            reader = csv.reader(handle, delimiter=_delimiter(first))
            names = next(reader, None)
            if names is None:
                raise EvaluationError(f"{path}: empty file, expected a header")
            header = _header(path, names)
            stamps, rows = _parse(path, reader, header)
    except UnicodeDecodeError as err:
        raise EvaluationError(f"{path}: not UTF-8 text") from err
    except csv.Error as err:
        raise EvaluationError(f"{path}: unreadable CSV: {err}") from err
    return _table(path, header, stamps, rows)
