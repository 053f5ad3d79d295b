"""The tables `forewarn evaluate` prints: per file, NAB scores, events and point-wise rates."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich import box
from rich.table import Table

from forewarn.evaluation.backtest import BacktestReport
from forewarn.evaluation.events import summarise
from forewarn.evaluation.nab import PROFILES, ProfileScore
from forewarn.evaluation.pointwise import PointwiseMetrics

_SHORT = {"reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}
_LABELS = [_SHORT.get(profile.name, profile.name) for profile in PROFILES]


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
