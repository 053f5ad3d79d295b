"""Backtest use case: replay + scores of a registered detector, results CSVs, summary and PNGs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from forewarn.detection.registry import ALGORITHMS, DEFAULT_ALGORITHM
from forewarn.errors import InvalidInputError
from forewarn.evaluation.backtest import (
    BacktestReport,
    Retraining,
    report_to_dict,
    run_backtest,
    scored_rows,
)
from forewarn.evaluation.corpus import LabelledSeries
from forewarn.evaluation.nab import PROFILES
from forewarn.evaluation.outputs import nab_timestamps, write_results, write_summary
from forewarn.evaluation.plots import plot_path, write_plots

T0 = 1_396_310_400_000  # 2014-04-01T00:00:00Z
STEP = 300_000
# Long enough that the default's range check (on after 300 readings) has seen the noise's
# usual extremes before the first spike: 150 rows of probation made normal wander look new.
N = 2000  # probation: 300 rows
N_FAN = 1400  # probation: 210 rows
SPIKES = (800, 1200, 1600)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def spiky_series(name: str, seed: int, n: int = N) -> LabelledSeries:
    """Gaussian noise with a spike up and a dip two rows later inside each window."""
    values = np.random.default_rng(seed).normal(20.0, 0.5, n)
    ts = T0 + STEP * np.arange(n, dtype=np.int64)
    spikes = [k for k in SPIKES if k + 5 < n]
    for k in spikes:
        values[k] += 10.0
        values[k + 2] -= 10.0
    windows = tuple((int(ts[k - 5]), int(ts[k + 5])) for k in spikes)
    return LabelledSeries(name, name.split("/")[0], ts, values, windows)


@pytest.fixture(scope="module")
def corpus() -> list[LabelledSeries]:
    """Two labelled files in two categories."""
    return [spiky_series("plant/pump.csv", 1), spiky_series("yard/fan.csv", 2, n=N_FAN)]


@pytest.fixture(scope="module")
def report(corpus: list[LabelledSeries]) -> BacktestReport:
    """The default algorithm's backtest of the corpus."""
    return run_backtest(corpus)


def test_default_algorithm_detects_the_obvious_spikes(report: BacktestReport) -> None:
    events = report.evaluation.events_shipped
    assert events.n_windows == 5 and events.n_detected == 5
    assert report.algorithm == DEFAULT_ALGORITHM
    assert [s.profile for s in report.evaluation.optimal] == [p.name for p in PROFILES]
    assert all(s.score > 50 for s in report.evaluation.optimal)
    assert all(s.threshold is not None for s in report.evaluation.optimal)
    assert all(s.threshold is None for s in report.evaluation.shipped)


def test_progress_reports_every_scored_row(corpus: list[LabelledSeries]) -> None:
    calls: list[tuple[str, int]] = []
    run_backtest(corpus[1:], progress=lambda name, rows: calls.append((name, rows)))
    assert {name for name, _ in calls} == {"yard/fan.csv"}
    assert sum(rows for _, rows in calls) == scored_rows(corpus[1:]) == N_FAN - 210


def test_retraining_schedule_refits(corpus: list[LabelledSeries]) -> None:
    report = run_backtest(corpus[:1], retraining=Retraining(every_rows=200, window_rows=300))
    assert report.series[0].replay.n_fits == math.ceil((N - 300) / 200)
    assert report_to_dict(report)["retraining"] == {"every_rows": 200, "window_rows": 300}


def test_unknown_algorithm_and_bad_params_name_the_field(corpus: list[LabelledSeries]) -> None:
    with pytest.raises(InvalidInputError) as unknown:
        run_backtest(corpus, "no-such-detector")
    assert unknown.value.loc == ("algorithm",)
    with pytest.raises(InvalidInputError) as bad:
        run_backtest(corpus, DEFAULT_ALGORITHM, {"no_such_param": 1})
    assert bad.value.loc == ("parameters", "no_such_param")  # the API says ("body", "params")


@pytest.mark.parametrize("name", [spec.name for spec in ALGORITHMS])
def test_every_registered_algorithm_runs(name: str) -> None:
    report = run_backtest([spiky_series("a/b.csv", 3, n=900)], name)
    assert report_to_dict(report)["algorithm"] == name


def test_results_csvs_follow_the_nab_layout(
    report: BacktestReport, corpus: list[LabelledSeries], tmp_path: Path
) -> None:
    paths = write_results(report, tmp_path)
    assert paths == [tmp_path / "plant" / "pump.csv", tmp_path / "yard" / "fan.csv"]
    for path, series, figures in zip(paths, corpus, report.series, strict=True):
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0][:4] == ["timestamp", "value", "anomaly_score", "is_anomaly"]
        assert rows[0][4:] == ["anomalous", "event_id", "label"]  # appended: NAB ignores them
        body = rows[1:]
        assert len(body) == len(series.ts_ms)
        assert body[0][0] == "2014-04-01 00:00:00" and body[1][0] == "2014-04-01 00:05:00"
        assert [float(r[1]) for r in body] == series.values.tolist()
        flags = [int(r[3]) for r in body]
        assert flags == figures.replay.is_anomaly.astype(int).tolist()
        probation = figures.replay.probation
        assert all(float(r[2]) == 0.0 for r in body[:probation])
        scores = [float(r[2]) for r in body[probation:]]
        assert scores == figures.replay.scores[probation:].tolist()
        assert [int(r[4]) for r in body] == figures.replay.anomalous.astype(int).tolist()
        assert all((r[5] != "") == (r[4] == "1") for r in body)
        labelled = [k for k, r in enumerate(body) if r[6] == "1"]
        assert labelled == [k + d for k in SPIKES if k + 5 < len(body) for d in range(-5, 6)]


def test_nab_timestamps() -> None:
    stamps = np.array([T0, T0 + 86_400_000 + 61_000], dtype=np.int64)
    assert nab_timestamps(stamps).tolist() == ["2014-04-01 00:00:00", "2014-04-02 00:01:01"]


def test_summary_json_holds_every_figure(report: BacktestReport, tmp_path: Path) -> None:
    summary = json.loads(write_summary(report, tmp_path).read_text())
    assert summary == json.loads(json.dumps(report_to_dict(report)))
    assert set(summary["nab"]) == {p.name for p in PROFILES}
    standard = summary["nab"]["standard"]
    assert standard["optimal"]["score"] == pytest.approx(report.evaluation.optimal[0].score)
    assert standard["shipped"]["score"] == pytest.approx(report.evaluation.shipped[0].score)
    assert summary["events"]["shipped"]["detected"] == 5
    assert summary["rows"] == N + N_FAN and summary["scored_rows"] == N - 300 + N_FAN - 210
    first = summary["series"][0]
    assert first["name"] == "plant/pump.csv" and first["probation"] == 300
    assert [w["start_row"] for w in first["windows"]] == [k - 5 for k in SPIKES]
    assert all(w["delay_rows"] is not None for w in first["windows"])


@pytest.mark.slow
def test_a_png_per_series(report: BacktestReport, tmp_path: Path) -> None:
    paths = write_plots(report, tmp_path)
    assert paths == [plot_path(tmp_path, f) for f in report.series]
    assert paths[0] == tmp_path / "plots" / "plant" / "pump.png"
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_workers_give_the_same_replays(
    report: BacktestReport, corpus: list[LabelledSeries]
) -> None:
    done: list[str] = []
    parallel = run_backtest(corpus, workers=2, progress=lambda name, rows: done.append(name))
    assert sorted(done) == sorted(s.name for s in corpus)
    for a, b in zip(parallel.series, report.series, strict=True):
        assert np.array_equal(a.replay.is_anomaly, b.replay.is_anomaly)
        assert np.array_equal(a.replay.scores, b.replay.scores, equal_nan=True)
