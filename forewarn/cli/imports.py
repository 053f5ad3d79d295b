"""`forewarn import-csv`: load historical readings from a CSV file."""

from __future__ import annotations

import csv
import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import TypeAdapter, ValidationError
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from forewarn.cli.common import console, err_console, open_runtime
from forewarn.errors import ForewarnError
from forewarn.schemas.common import MetricName, TimestampMs
from forewarn.services.devices import get_device
from forewarn.telemetry.store import Row, write_rows

_TS = TypeAdapter(TimestampMs)
_METRIC = TypeAdapter(MetricName)
_CHUNK = 20_000
T = TypeVar("T")


class CsvProblem(ForewarnError):
    """A CSV cell that cannot be imported; names the line and column."""


def _rows(path: Path, device_id: uuid.UUID, ts_column: str, metrics: list[str]) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in [ts_column, *metrics] if c not in (reader.fieldnames or [])]
        if missing:
            raise CsvProblem(f"{path}: no column(s) {', '.join(missing)}")
        for line, record in enumerate(reader, start=2):
            ts = _cell(_TS, record[ts_column], line, ts_column)
            for metric in metrics:
                if record[metric].strip() == "":
                    continue  # an empty cell is a missing reading, not an error
                yield Row(device_id, metric, ts, _value(record[metric], line, metric))


def _value(text: str, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise CsvProblem(f"line {line}, column {column!r}: {text[:40]!r} is not a number") from err
    if not math.isfinite(value):
        raise CsvProblem(f"line {line}, column {column!r}: value must be finite")
    return value


def _cell(adapter: TypeAdapter[T], raw: object, line: int, column: str) -> T:
    try:
        return adapter.validate_python(raw)
    except ValidationError as err:
        msg = err.errors()[0]["msg"]
        raise CsvProblem(f"line {line}, column {column!r}: {msg}") from err


def import_csv(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file")],
    device_id: Annotated[uuid.UUID, typer.Option("--device", help="Device id")],
    metric: Annotated[list[str], typer.Option(help="Column to import as a metric (repeat)")],
    ts_column: Annotated[str, typer.Option(help="Timestamp column")] = "timestamp",
) -> None:
    """Import readings (all or nothing) for a device; timestamps as epoch ms or ISO 8601."""
    for name in metric:
        _cell(_METRIC, name, 1, name)
    with open_runtime() as runtime, runtime.sessions() as session:
        try:
            get_device(session, device_id)
            rows = list(_rows(path, device_id, ts_column, metric))
        except ForewarnError as err:
            err_console.print(f"[red]{err}; nothing was imported[/red]")
            raise typer.Exit(1) from err
        written = 0
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            TextColumn("{task.completed:,}"),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("import", total=len(rows))
            for start in range(0, len(rows), _CHUNK):
                written += write_rows(session.connection(), rows[start : start + _CHUNK])
                progress.update(task, advance=len(rows[start : start + _CHUNK]))
        session.commit()
        runtime.metrics.readings_ingested.labels(transport="csv").inc(written)
        console.print(f"imported {written:,} readings from {path}")
