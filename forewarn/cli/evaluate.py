"""`forewarn evaluate`: backtest detectors on labelled series (NAB files or a device's
multi-sensor CSVs) and report NAB, event-level and point-wise scores."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from forewarn.cli.common import console, err_console
from forewarn.cli.evaluate_tables import events_table, files_table, pointwise_table, scores_table
from forewarn.detection.registry import ALGORITHMS, DEFAULT_ALGORITHM, DEVICE_ALGORITHM
from forewarn.errors import ForewarnError, InvalidInputError
from forewarn.evaluation.backtest import BacktestReport, check_algorithm, run_backtest, scored_rows
from forewarn.evaluation.corpus import LabelledSeries, load_corpus, with_training
from forewarn.evaluation.outputs import write_results, write_summary
from forewarn.evaluation.plots import plot_path, plot_series
from forewarn.evaluation.series_csv import parse_timestamp_ms

DEFAULT_PLOTS_DIR = Path("forewarn-evaluation")
_VALID = ", ".join(spec.name for spec in ALGORITHMS)


# The option of each argument of `run_backtest` a refusal can be about.
_OPTIONS = {
    "algorithm": "--algorithm",
    "workers": "--workers",
    "train_rows": "--train-rows",
    "train_until": "--train-until",
}
_NO_NAB = "NAB not shown ({why}): NAB needs one metric and its own probation."


def _fail(err: Exception) -> NoReturn:
    """One red line, led by the option it is about when it is about one, and exit code 1."""
    text = str(err)
    if isinstance(err, InvalidInputError) and err.loc and str(err.loc[0]) in _OPTIONS:
        text = f"{_OPTIONS[str(err.loc[0])]}: {err.message}"
    err_console.print(f"[red]{escape(text)}[/red]", soft_wrap=True)  # paths stay whole
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


def _no_nab_reason(corpus: Sequence[LabelledSeries]) -> str:
    """Why NAB does not apply to this corpus, in a few words."""
    if any(len(s.metrics) > 1 for s in corpus):
        return "multi-column input"
    return "custom training rows"


def _train_until(text: str | None) -> int | None:
    """Epoch ms of --train-until, or an error naming the option."""
    if text is None:
        return None
    try:
        return parse_timestamp_ms(text)
    except ValueError as err:
        raise InvalidInputError(
            ("train_until",), f"{text!r} is not a timestamp (e.g. 2020-03-09 10:40:00)"
        ) from err


def _load(
    path: Path, labels: Path, train_rows: int | None, train_until: str | None
) -> list[LabelledSeries]:
    """The labelled files with their training history."""
    if train_rows is not None and train_until is not None:
        raise InvalidInputError(("train_rows",), "give --train-rows or --train-until, not both")
    until = _train_until(train_until)
    corpus = load_corpus(path, labels)
    return with_training(corpus, train_rows=train_rows, train_until_ms=until)


def _print(reports: Sequence[BacktestReport], corpus: Sequence[LabelledSeries]) -> None:
    """The per-file tables, then NAB (where defined), events and point-wise figures."""
    for report in reports:
        console.print(files_table(report))
    if all(r.evaluation.has_nab for r in reports):
        console.print(scores_table(reports))
    else:
        console.print(_NO_NAB.format(why=_no_nab_reason(corpus)))
    console.print(events_table(reports))
    console.print(pointwise_table(reports))


def default_for(corpus: Sequence[LabelledSeries]) -> str:
    """The product's default for these files: the device-level one if any has several
    metrics (as training a device-level model would choose)."""
    return DEVICE_ALGORITHM if any(len(s.metrics) > 1 for s in corpus) else DEFAULT_ALGORITHM


def evaluate(
    path: Annotated[
        Path,
        typer.Argument(help="A CSV (timestamp + one column per metric) or a directory of them"),
    ],
    labels: Annotated[Path, typer.Option(help="Anomaly windows JSON (NAB combined_windows.json)")],
    algorithm: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help=f"Detector, one of {_VALID}; repeat to compare (default: {DEFAULT_ALGORITHM}"
            f" for one metric, {DEVICE_ALGORITHM} for a device's metrics)",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write results CSVs, summary.json and PNGs here")
    ] = None,
    plots: Annotated[bool, typer.Option(help="Write a PNG per series")] = True,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Replay in N processes")] = 1,
    train_rows: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="Fit on each file's first N rows, score the rest"),
    ] = None,
    train_until: Annotated[
        str | None,
        typer.Option(metavar="TS", help="Fit on each file's rows up to TS (UTC), score the rest"),
    ] = None,
) -> None:
    """Replay labelled series without look-ahead; report NAB, event and point-wise scores."""
    try:
        for name in algorithm or []:
            check_algorithm(name, {})
        corpus = _load(path, labels, train_rows, train_until)
        names = algorithm or [default_for(corpus)]
        reports = [_backtest(corpus, name, workers) for name in dict.fromkeys(names)]
        root = output or DEFAULT_PLOTS_DIR
        for report in reports:
            where = root / report.algorithm if len(reports) > 1 else root
            _write(report, where, output is not None, plots)
    except (ForewarnError, OSError) as err:
        _fail(err)
    _print(reports, corpus)
