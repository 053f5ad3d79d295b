"""Replay a corpus with a registered detector: one file after another or in worker processes,
on the product's retraining schedule, reporting scored rows as they go."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from typing import Any

from forewarn.detection.schedule import RETRAIN_EVERY_ROWS, RETRAIN_WINDOW_ROWS
from forewarn.evaluation.corpus import LabelledSeries
from forewarn.evaluation.detectors import fit_function
from forewarn.evaluation.nab import FloatArray, IntArray
from forewarn.evaluation.replay import (
    FitFn,
    Reading,
    Replayer,
    ReplayResult,
    Verdict,
    replay_series,
)

ProgressFn = Callable[[str, int], None]  # (series name, rows just scored)
_TICK_ROWS = 500  # report progress in chunks: a callback per row would cost more than scoring


@dataclass(frozen=True)
class Retraining:
    """When a replay refits the detector, and on how many of the latest rows."""

    every_rows: int | None = RETRAIN_EVERY_ROWS
    window_rows: int | None = RETRAIN_WINDOW_ROWS


@dataclass(frozen=True)
class Algorithm:
    """A registered algorithm and its parameters (a `seed` among them seeds it)."""

    name: str
    params: Mapping[str, Any]

    def fit_for(self, series: LabelledSeries) -> FitFn:
        """The replay `fit` of this algorithm on the series' metrics."""
        return fit_function(self.name, metrics=series.metrics, **self.params)


def scored_rows(corpus: Sequence[LabelledSeries]) -> int:
    """Rows a replay will score (the progress total): all rows after each file's training."""
    return sum(len(s.ts_ms) - s.probation for s in corpus)


@dataclass
class _Counting:
    """A fit whose replayer reports its scored rows in chunks; for one series at a time."""

    fit: FitFn
    name: str
    progress: ProgressFn
    inner: Replayer | None = None
    pending: int = 0

    def __call__(self, ts: IntArray, values: FloatArray) -> _Counting:
        """Fit the wrapped detector; each refit replaces the previous replayer."""
        self.inner = self.fit(ts, values)
        return self

    def update(self, ts: int, value: Reading) -> Verdict:
        """Score through the wrapped replayer, counting the row."""
        assert self.inner is not None, "update before fit"
        self.pending += 1
        if self.pending >= _TICK_ROWS:
            self.flush()
        return self.inner.update(ts, value)

    def flush(self) -> None:
        """Report the rows not reported yet."""
        if self.pending:
            self.progress(self.name, self.pending)
            self.pending = 0


def _replay(series: LabelledSeries, fit: FitFn, retraining: Retraining) -> ReplayResult:
    """Replay one series on the retraining schedule."""
    every, window = retraining.every_rows, retraining.window_rows
    return replay_series(series, fit, retrain_every_rows=every, retrain_window_rows=window)


def _replay_one(
    series: LabelledSeries, algorithm: Algorithm, retraining: Retraining
) -> ReplayResult:
    """Replay one series with the algorithm fitted on its metrics (a worker's job)."""
    return _replay(series, algorithm.fit_for(series), retraining)


def _replay_serial(
    corpus: Sequence[LabelledSeries],
    algorithm: Algorithm,
    retraining: Retraining,
    progress: ProgressFn,
) -> list[ReplayResult]:
    """Replay one series after the other, reporting rows as they are scored."""
    replays = []
    for series in corpus:
        counting = _Counting(algorithm.fit_for(series), series.name, progress)
        replays.append(_replay(series, counting, retraining))
        counting.flush()
    return replays


def _replay_pool(
    corpus: Sequence[LabelledSeries],
    algorithm: Algorithm,
    retraining: Retraining,
    progress: ProgressFn,
    workers: int,
) -> list[ReplayResult]:
    """Replay in worker processes, reporting each series when it is done."""
    run = partial(_replay_one, algorithm=algorithm, retraining=retraining)
    results: dict[int, ReplayResult] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run, series): k for k, series in enumerate(corpus)}
        for future in as_completed(futures):
            k = futures[future]
            results[k] = future.result()
            progress(corpus[k].name, scored_rows([corpus[k]]))
    return [results[k] for k in range(len(corpus))]


def replay_all(
    corpus: Sequence[LabelledSeries],
    algorithm: Algorithm,
    retraining: Retraining,
    progress: ProgressFn,
    workers: int = 1,
) -> list[ReplayResult]:
    """Every series replayed, in corpus order (in `workers` processes when > 1)."""
    if workers == 1 or len(corpus) < 2:
        return _replay_serial(corpus, algorithm, retraining, progress)
    return _replay_pool(corpus, algorithm, retraining, progress, workers)
