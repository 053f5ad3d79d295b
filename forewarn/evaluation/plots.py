"""One PNG per backtested series: values, label windows, training rows and shipped detections.

A device's file (several metrics) is drawn as each metric's z-score on its training rows,
so that metrics of different units share one axis.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from forewarn.evaluation.backtest import BacktestReport, SeriesFigures
from forewarn.evaluation.events import summarise
from forewarn.evaluation.nab import FloatArray
from forewarn.evaluation.outputs import relative_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PLOTS_DIR = "plots"
_SIZE_INCHES = (14.0, 4.5)
_DPI = 100


def _delay_text(ms: float) -> str:
    """A median delay as hours, or "-" when nothing was detected."""
    return "-" if np.isnan(ms) else f"{ms / 3_600_000:.1f} h"


def plot_title(figures: SeriesFigures) -> str:
    """The file name and its per-file figures."""
    events = summarise([figures.events])
    nab = {p.profile: p.score for p in figures.nab_shipped}
    rows = figures.pointwise
    score = (
        f"NAB standard (shipped) {nab['standard']:.1f}"
        if "standard" in nab
        else f"point-wise F1 {rows.f1:.2f}, FAR {rows.false_alarm_rate:.1f} %"
    )
    return (
        f"{figures.series.name}\n{events.n_detected}/{events.n_windows} windows detected, "
        f"{events.n_false_events} false events, median delay "
        f"{_delay_text(events.median_delay_ms)}, {score}"
    )


def _shown(figures: SeriesFigures) -> FloatArray:
    """The values to draw: as read for one metric, z-scores on the training rows for several."""
    values = figures.series.values
    if values.ndim == 1:
        return values
    train = values[: max(figures.replay.probation, 1)]
    scale = train.std(axis=0)
    z = (values - train.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    return np.asarray(z, dtype=np.float64)


def _draw(ax: Axes, figures: SeriesFigures) -> None:
    """The values, probation and windows shaded, and the shipped detections."""
    from matplotlib import dates

    date2num = cast(Callable[[object], FloatArray], dates.date2num)  # untyped in matplotlib
    series, replay, shown = figures.series, figures.replay, _shown(figures)
    when = series.ts_ms.astype("datetime64[ms]")
    if shown.ndim == 1:
        ax.plot(when, shown, color="tab:blue", linewidth=0.7, label=series.metrics[0])
    else:
        for k, metric in enumerate(series.metrics):
            ax.plot(when, shown[:, k], linewidth=0.6, label=f"{metric} (z)")
    x = date2num(when)
    if replay.probation:
        ax.axvspan(x[0], x[replay.probation - 1], color="0.85", zorder=0, label="training")
    spans = date2num(np.array(series.windows_ms, dtype=np.int64).reshape(-1, 2).astype("M8[ms]"))
    for k, (start, end) in enumerate(spans.tolist()):
        label = "label window" if k == 0 else None
        ax.axvspan(start, end, color="tab:orange", alpha=0.3, zorder=0, label=label)
    hits = np.flatnonzero(replay.is_anomaly)
    marks = shown[hits] if shown.ndim == 1 else shown[hits].max(axis=1)
    ax.plot(when[hits], marks, "o", color="red", markersize=3, label="detection")
    ax.set_xlim(x[0], x[-1])
    ax.legend(loc="upper left", fontsize="small")


def plot_series(figures: SeriesFigures, path: Path) -> Path:
    """Write one series' PNG (Agg, no global pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=_SIZE_INCHES, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    _draw(ax, figures)
    ax.set_title(plot_title(figures), fontsize="medium")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def plot_path(root: Path, figures: SeriesFigures) -> Path:
    """Where a series' PNG goes: ``<root>/plots/<category>/<name>.png``."""
    return Path(root) / PLOTS_DIR / relative_path(figures.series.name, ".png")


def write_plots(report: BacktestReport, root: Path) -> list[Path]:
    """Every series' PNG below ``root``."""
    return [plot_series(f, plot_path(root, f)) for f in report.series]
