"""`forewarn evaluate`: backtest detectors on labelled series (NAB files or a device's
multi-sensor CSVs) and report NAB, event-level and point-wise scores."""

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
from forewarn.evaluation.corpus import LabelledSeries, load_corpus, with_training
from forewarn.evaluation.events import summarise
from forewarn.evaluation.nab import PROFILES, ProfileScore
from forewarn.evaluation.outputs import write_results, write_summary
from forewarn.evaluation.plots import plot_path, plot_series
from forewarn.evaluation.pointwise import PointwiseMetrics
from forewarn.evaluation.series_csv import parse_timestamp_ms

DEFAULT_PLOTS_DIR = Path("forewarn-evaluation")
_SHORT = {"reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}
_LABELS = [_SHORT.get(profile.name, profile.name) for profile in PROFILES]
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


def _score(score: ProfileScore) -> str:
    """A normalised NAB score, with its threshold when it has one."""
    text = f"{score.score:.1f}"
    if score.threshold is None:
        return text
    return f"{text}\n@{score.threshold:.3g}" if math.isfinite(score.threshold) else f"{text}\nnever"


def _num(value: float, spec: str = ".3f") -> str:
    """A figure, or "-" when undefined."""
    return "-" if math.isnan(value) else format(value, spec)


def _duration(ms: float) -> str:
    """A duration in the unit that reads best: seconds, minutes or hours."""
    if ms < 120_000:
        return f"{ms / 1000:.0f} s"
    return f"{ms / 60_000:.0f} min" if ms < 7_200_000 else f"{ms / 3_600_000:.1f} h"


def _delay(ms: float, rows: float | None = None) -> str:
    """A median delay (and in rows), or "-" when nothing was detected."""
    if math.isnan(ms):
        return "-"
    return _duration(ms) + ("" if rows is None else f"\n{rows:g} rows")


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


def _rates(m: PointwiseMetrics) -> tuple[str, str, str]:
    """F1, false-alarm and missed-alarm rates of point-wise counts."""
    return _num(m.f1), _num(m.false_alarm_rate, ".1f"), _num(m.missed_alarm_rate, ".1f")


def pointwise_table(reports: Sequence[BacktestReport]) -> Table:
    """One row per algorithm: point-wise figures on `anomalous`, every file's rows pooled."""
    table = _table("Rows (anomalous), every scored row of every file pooled")
    for column in ("rows", "precision", "recall", "F1", "FAR %", "MAR %"):
        table.add_column(column, justify="right")
    for report in reports:
        m = report.evaluation.pointwise
        f1, far, mar = _rates(m)
        table.add_row(
            report.algorithm, f"{m.rows:,}", _num(m.precision), _num(m.recall), f1, far, mar
        )
    return table


def files_table(report: BacktestReport) -> Table:
    """Per file: events on is_anomaly (windows, detected, false events, delay) and the
    point-wise F1, FAR and MAR on anomalous."""
    table = Table(
        title=f"{report.algorithm}: per file, at the shipped decisions",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        title_justify="left",
    )
    table.add_column("file", overflow="fold", min_width=14)
    columns = ("rows", "train", "win-\ndows", "found", "false\nevents", "median\ndelay")
    for column in (*columns, "F1", "FAR\n%", "MAR\n%"):
        table.add_column(column, justify="right", no_wrap=True)
    for figures in report.series:
        events = summarise([figures.events])
        table.add_row(
            figures.series.name,
            f"{len(figures.series.ts_ms):,}",
            f"{figures.replay.probation:,}",
            str(events.n_windows),
            str(events.n_detected),
            str(events.n_false_events),
            _delay(events.median_delay_ms),
            *_rates(figures.pointwise),
        )
    return table


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
            help=f"Detector, one of {_VALID}; repeat to compare (default: {DEFAULT_ALGORITHM})",
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
    names = algorithm or [DEFAULT_ALGORITHM]
    try:
        for name in names:
            check_algorithm(name, {})
        corpus = _load(path, labels, train_rows, train_until)
        reports = [_backtest(corpus, name, workers) for name in dict.fromkeys(names)]
        root = output or DEFAULT_PLOTS_DIR
        for report in reports:
            where = root / report.algorithm if len(reports) > 1 else root
            _write(report, where, output is not None, plots)
    except (ForewarnError, OSError) as err:
        _fail(err)
    _print(reports, corpus)
