"""Backtests of a device's multi-sensor files: training history, point-wise metrics on
`anomalous`, events on `is_anomaly`, and the per-row event columns."""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from forewarn.detection.events import event_id
from forewarn.evaluation.backtest import BacktestReport, report_to_dict, run_backtest
from forewarn.evaluation.corpus import LabelledSeries, load_corpus, with_training
from forewarn.evaluation.nab import FloatArray, IntArray
from forewarn.evaluation.outputs import write_results
from forewarn.evaluation.plots import write_plots
from forewarn.evaluation.replay import Reading, Verdict, evaluate_replays, replay_series
from tests.evaluation.helpers import (
    FAULT,
    METRICS,
    ROWS,
    TRAIN,
    fault_window,
    write_device_csv,
    write_labels,
)

ALGORITHM = "pca_spc"  # a device-level detector whose decisions on a 40-sigma fault are plain


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[LabelledSeries]:
    """A faulty run and a healthy run of one rig, trained on their first 200 rows."""
    root = tmp_path_factory.mktemp("rig")
    write_device_csv(root / "data" / "rig" / "faulty.csv", 1)
    write_device_csv(root / "data" / "rig" / "healthy.csv", 2)
    labels = {"rig/faulty.csv": [fault_window()], "rig/healthy.csv": []}
    loaded = load_corpus(root / "data", write_labels(root / "windows.json", labels))
    healthy = loaded[1]
    values = healthy.values.copy()
    values[FAULT[0] : FAULT[1] + 1, 1] -= 0.4  # undo the fault the writer put in
    loaded[1] = replace(healthy, values=values)
    return with_training(loaded, train_rows=TRAIN)


@pytest.fixture(scope="module")
def report(corpus: list[LabelledSeries]) -> BacktestReport:
    """The device-level detector's backtest of both runs."""
    return run_backtest(corpus, ALGORITHM)


def test_no_nab_for_device_files_but_points_and_events(report: BacktestReport) -> None:
    ev = report.evaluation
    assert not ev.has_nab and ev.events_optimal is None
    assert ev.pointwise.rows == 2 * (ROWS - TRAIN)
    assert ev.pointwise.recall > 0.5  # the fault moves pressure unlike flow and current
    assert ev.events_shipped.n_windows == 1 and ev.events_shipped.n_detected == 1
    summary = report_to_dict(report)
    assert summary["nab"] is None and summary["events"]["optimal"] is None
    assert summary["pointwise"]["tp"] == ev.pointwise.tp
    assert summary["series"][0]["metrics"] == list(METRICS)
    assert summary["series"][0]["probation"] == TRAIN


def test_per_file_figures_pool_to_the_corpus(report: BacktestReport) -> None:
    faulty, healthy = report.series
    assert faulty.pointwise.tp + faulty.pointwise.fn == FAULT[1] - FAULT[0] + 1
    assert healthy.pointwise.tp + healthy.pointwise.fn == 0
    assert faulty.pointwise.plus(healthy.pointwise) == report.evaluation.pointwise
    assert faulty.nab_shipped == ()


def test_results_csv_carries_every_metric_and_the_event_columns(
    report: BacktestReport, tmp_path: Path
) -> None:
    path = write_results(report, tmp_path)[0]
    with path.open(newline="") as handle:
        header, *body = list(csv.reader(handle))
    assert header == [
        "timestamp", *METRICS, "anomaly_score", "is_anomaly", "anomalous", "event_id", "label",
    ]  # fmt: skip
    figures = report.series[0]
    assert [float(x) for x in body[0][1:4]] == figures.series.values[0].tolist()
    assert sum(r[8] == "1" for r in body) == FAULT[1] - FAULT[0] + 1
    starts = figures.replay.event_start.tolist()
    for k, row in enumerate(body):
        expected = event_id("rig/faulty.csv", starts[k]) if row[6] == "1" else ""
        assert row[7] == expected
    assert all(r[6] == "0" and r[7] == "" for r in body[:TRAIN])


def test_scores_never_depend_on_later_rows(corpus: list[LabelledSeries]) -> None:
    faulty = corpus[0]
    changed = faulty.values.copy()
    changed[FAULT[0] :] = changed[FAULT[0] :] * 3.0
    first = run_backtest([faulty], ALGORITHM).series[0].replay
    second = run_backtest([replace(faulty, values=changed)], ALGORITHM).series[0].replay
    assert np.array_equal(first.scores[: FAULT[0]], second.scores[: FAULT[0]], equal_nan=True)


@pytest.mark.slow
def test_workers_and_plots_handle_device_files(
    report: BacktestReport, corpus: list[LabelledSeries], tmp_path: Path
) -> None:
    parallel = run_backtest(corpus, ALGORITHM, workers=2)
    for a, b in zip(parallel.series, report.series, strict=True):
        assert np.array_equal(a.replay.anomalous, b.replay.anomalous)
    assert all(p.stat().st_size > 10_000 for p in write_plots(report, tmp_path))


@dataclass
class Excursions:
    """A decision layer in miniature: anomalous while the pressure is high, reported once."""

    inside: bool = False
    start: int | None = None

    def update(self, ts: int, value: Reading) -> Verdict:
        assert isinstance(value, list) and len(value) == 3
        high = value[1] > 1.5
        opens = high and not self.inside
        self.inside, self.start = high, (ts if opens else self.start if high else None)
        return Verdict(float(high), opens, high, self.start)


def fit_excursions(ts: IntArray, values: FloatArray) -> Excursions:
    """Module-level so it could be pickled."""
    return Excursions()


def test_points_are_judged_on_anomalous_and_events_on_is_anomaly(
    corpus: list[LabelledSeries],
) -> None:
    faulty = corpus[0]
    values = faulty.values.copy()
    values[FAULT[0] : FAULT[1] + 1, 1] += 10.0
    faulty = replace(faulty, values=values)
    replay = replay_series(faulty, fit_excursions)
    assert int(replay.is_anomaly.sum()) == 1  # one event, opened at the fault's first row
    evaluation = evaluate_replays([faulty], [replay])
    assert evaluation.pointwise.recall == 1.0 and evaluation.pointwise.fp == 0
    assert evaluation.events_shipped.n_detected == 1
    assert evaluation.events_shipped.n_false_events == 0
    assert set(replay.event_start[replay.anomalous].tolist()) == {int(faulty.ts_ms[FAULT[0]])}
