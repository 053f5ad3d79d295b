"""`forewarn import-csv`: load historical readings from a CSV file, through the reading pipeline.

The file is one transaction: every cell is checked (the reading rule of
`forewarn.telemetry.readings`) before anything is written, and the readings are then stored
and scored in time order, chunk by chunk, so a series with an active model gets its
anomalies exactly as if the readings had been sent over HTTP or MQTT.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from forewarn.cli.common import console, err_console, open_runtime
from forewarn.errors import ForewarnError
from forewarn.pipeline.ingest import Ingested, in_time_order
from forewarn.services.devices import get_device
from forewarn.telemetry.readings import (
    ReadingRuleError,
    check_metric_count,
    finite_value,
    metric_name,
    parse_timestamp,
)
from forewarn.telemetry.store import Row

_CHUNK = 20_000  # readings per step of the progress bar (more when one time spans a boundary)
T = TypeVar("T")


class CsvProblem(ForewarnError):
    """A CSV cell that cannot be imported; names the line and column."""


def _rows(path: Path, device_id: uuid.UUID, ts_column: str, metrics: list[str]) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        try:
            yield from _records(reader, path, device_id, ts_column, metrics)
        except UnicodeDecodeError as err:
            raise CsvProblem(f"{path}: not UTF-8 text; save it as UTF-8") from err
        except csv.Error as err:
            raise CsvProblem(f"after line {reader.line_num}: {err}") from err


def _records(
    reader: csv.DictReader[str], path: Path, device_id: uuid.UUID, ts_column: str,
    metrics: list[str],
) -> Iterator[Row]:  # fmt: skip
    missing = [c for c in [ts_column, *metrics] if c not in (reader.fieldnames or [])]
    if missing:
        raise CsvProblem(f"{path}: no column(s) {', '.join(missing)}")
    for line, record in enumerate(reader, start=2):
        ts = _cell(parse_timestamp, record[ts_column], line, ts_column)
        for metric in metrics:
            if record[metric].strip() == "":
                continue  # an empty cell is a missing reading, not an error
            yield Row(device_id, metric, ts, _value(record[metric], line, metric))


def _value(text: str, line: int, column: str) -> float:
    try:
        number = float(text)
    except ValueError as err:
        raise CsvProblem(f"line {line}, column {column!r}: {text[:40]!r} is not a number") from err
    return _cell(finite_value, number, line, column)


def _cell(check: Callable[[object], T], raw: object, line: int, column: str) -> T:
    try:
        return check(raw)
    except ReadingRuleError as err:
        raise CsvProblem(f"line {line}, column {column!r}: {err.message}") from err


def _check_metrics(metrics: list[str]) -> None:
    for name in metrics:
        _cell(metric_name, name, 1, name)
    try:
        check_metric_count(len(metrics))
    except ReadingRuleError as err:
        raise CsvProblem(f"--metric: a reading {err.message}") from err


def import_csv(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file")],
    device_id: Annotated[uuid.UUID, typer.Option("--device", help="Device id")],
    metric: Annotated[list[str], typer.Option(help="Column to import as a metric (repeat)")],
    ts_column: Annotated[str, typer.Option(help="Timestamp column")] = "timestamp",
) -> None:
    """Import readings (all or nothing) for a device; timestamps as epoch ms or ISO 8601.

    Series with an active model are scored in time order and their anomalies stored.
    """
    with open_runtime() as runtime, runtime.sessions() as session:
        try:
            _check_metrics(metric)
            get_device(session, device_id)
            rows = list(_rows(path, device_id, ts_column, metric))
        except ForewarnError as err:
            err_console.print(f"[red]{err}; nothing was imported[/red]")
            raise typer.Exit(1) from err
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            TextColumn("{task.completed:,}"),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("import", total=len(rows))
            with runtime.pipeline.transaction(session, "csv") as opened:
                for chunk in in_time_order(rows, _CHUNK):
                    opened.add(chunk)
                    progress.update(task, advance=len(chunk[device_id]))
        console.print(_summary(opened.result, path))


def _summary(done: Ingested, path: Path) -> str:
    return (
        f"imported {done.readings:,} readings from {path}; "
        f"{done.scored:,} scored, {done.anomalies:,} anomalies"
    )
