"""`forewarn evaluate`: backtest detectors on labelled series the way NAB scores them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich import box
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from forewarn.cli.common import console, err_console
from forewarn.detection.registry import ALGORITHMS, DEFAULT_ALGORITHM
from forewarn.errors import ForewarnError, InvalidInputError
from forewarn.evaluation.backtest import BacktestReport, check_algorithm, run_backtest, scored_rows
from forewarn.evaluation.corpus import LabelledSeries, load_corpus
from forewarn.evaluation.events import summarise
from forewarn.evaluation.nab import PROFILES, ProfileScore
from forewarn.evaluation.outputs import write_results, write_summary
from forewarn.evaluation.plots import plot_path, plot_series

DEFAULT_PLOTS_DIR = Path("forewarn-evaluation")
_SHORT = {"reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}
_LABELS = [_SHORT.get(profile.name, profile.name) for profile in PROFILES]
_VALID = ", ".join(spec.name for spec in ALGORITHMS)


# The option of each argument of `run_backtest` a refusal can be about.
_OPTIONS = {"algorithm": "--algorithm", "workers": "--workers"}


def _fail(err: Exception) -> NoReturn:
    """One red line, led by the option it is about when it is about one, and exit code 1."""
    text = str(err)
    if isinstance(err, InvalidInputError) and err.loc and str(err.loc[0]) in _OPTIONS:
        text = f"{_OPTIONS[str(err.loc[0])]}: {err.message}"
    err_console.print(f"[red]{escape(text)}[/red]")
    raise typer.Exit(1) from err


def _bar(unit: str) -> Progress:
    """A progress bar counting `unit`."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeRemainingColumn(),
        console=console,
    )


def _backtest(corpus: Sequence[LabelledSeries], name: str, workers: int) -> BacktestReport:
    """Replay the corpus with one algorithm behind a progress bar."""
    with _bar("rows") as progress:
        task = progress.add_task(name, total=scored_rows(corpus))

        def advance(series: str, rows: int) -> None:
            progress.update(task, advance=rows, description=f"{name} {series}")

        report = run_backtest(corpus, name, progress=advance, workers=workers)
        progress.update(task, description=name)
    return report


def _write(report: BacktestReport, root: Path, results: bool, plots: bool) -> None:
    """Results CSVs and summary.json (with results) and PNGs (with plots) below root."""
    if results:
        write_results(report, root)
        write_summary(report, root)
    if plots:
        with _bar("files") as progress:
            task = progress.add_task(f"plotting {report.algorithm}", total=len(report.series))
            for figures in report.series:
                plot_series(figures, plot_path(root, figures))
                progress.advance(task)
    if results or plots:
        console.print(f"{report.algorithm}: results written to {root}")


def _score(score: ProfileScore) -> str:
    """A normalised NAB score, with its threshold when it has one."""
    text = f"{score.score:.1f}"
    if score.threshold is None:
        return text
    return f"{text}\n@{score.threshold:.3g}" if math.isfinite(score.threshold) else f"{text}\nnever"


def _num(value: float, spec: str = ".3f") -> str:
    """A figure, or "-" when undefined."""
    return "-" if math.isnan(value) else format(value, spec)


def _delay(ms: float, rows: float | None = None) -> str:
    """A median delay in hours (and rows), or "-" when nothing was detected."""
    if math.isnan(ms):
        return "-"
    return f"{ms / 3_600_000:.1f} h" + ("" if rows is None else f"\n{rows:g} rows")


def _table(title: str) -> Table:
    """A compact table that fits an 80-column terminal."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    table.add_column("algorithm", no_wrap=True)
    return table


def scores_table(reports: Sequence[BacktestReport]) -> Table:
    """One row per algorithm: NAB per profile at the optimal threshold and at shipped."""
    table = _table("NAB score, 0..100 (optimal: best corpus threshold, shown under the score)")
    for when in ("optimal", "shipped"):
        for label in _LABELS:
            table.add_column(f"{when}\n{label}", justify="right")
    for report in reports:
        ev = report.evaluation
        table.add_row(report.algorithm, *map(_score, ev.optimal), *map(_score, ev.shipped))
    return table


def events_table(reports: Sequence[BacktestReport]) -> Table:
    """One row per algorithm: event metrics at the shipped decisions and replay speed."""
    table = _table("Events at the shipped decisions")
    for column in ("precision", "recall", "F1", "median\ndelay", "rows/s"):
        table.add_column(column, justify="right")
    for report in reports:
        events = report.evaluation.events_shipped
        table.add_row(
            report.algorithm,
            _num(events.precision),
            _num(events.recall),
            _num(events.f1),
            _delay(events.median_delay_ms, events.median_delay_rows),
            f"{report.evaluation.rows_per_second:,.0f}",
        )
    return table


def files_table(report: BacktestReport) -> Table:
    """Per file: windows, detected, false events, delay (shipped decisions)."""
    table = Table(title=f"{report.algorithm}: per file, at the shipped decisions")
    table.add_column("file", overflow="fold")
    for column in ("rows", "windows", "detected", "false\nevents", "median\ndelay"):
        table.add_column(column, justify="right", no_wrap=True)
    for figures in report.series:
        events = summarise([figures.events])
        table.add_row(
            figures.series.name,
            f"{len(figures.series.ts_ms):,}",
            str(events.n_windows),
            str(events.n_detected),
            str(events.n_false_events),
            _delay(events.median_delay_ms),
        )
    return table


def evaluate(
    path: Annotated[Path, typer.Argument(help="A `timestamp,value` CSV or a NAB data directory")],
    labels: Annotated[Path, typer.Option(help="Anomaly windows JSON (NAB combined_windows.json)")],
    algorithm: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help=f"Detector, one of {_VALID}; repeat to compare (default: {DEFAULT_ALGORITHM})",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write results CSVs, summary.json and PNGs here")
    ] = None,
    plots: Annotated[bool, typer.Option(help="Write a PNG per series")] = True,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Replay in N processes")] = 1,
) -> None:
    """Replay labelled series without look-ahead and report NAB and event-level scores."""
    names = algorithm or [DEFAULT_ALGORITHM]
    try:
        for name in names:
            check_algorithm(name, {})
        corpus = load_corpus(path, labels)
        reports = [_backtest(corpus, name, workers) for name in dict.fromkeys(names)]
        root = output or DEFAULT_PLOTS_DIR
        for report in reports:
            where = root / report.algorithm if len(reports) > 1 else root
            _write(report, where, output is not None, plots)
    except (ForewarnError, OSError) as err:
        _fail(err)
    for report in reports:
        console.print(files_table(report))
    console.print(scores_table(reports))
    console.print(events_table(reports))
