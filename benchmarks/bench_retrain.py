"""Retraining benchmark: every series retrained end to end, champion/challenger included.

Run: .venv/bin/python benchmarks/bench_retrain.py [--database-url postgresql://...]
     [--series 1000] [--readings 1000] [--algorithm ensemble]

Set-up (not timed): one device per series, `--readings` readings every 5 minutes each (a
level shift in every third series, a spike in every fifth), and a champion trained on all
but the last two days. Timed: `retrain_series` for every series, one after the other as the
scheduled job runs them: read the window, fit the challenger, replay both models over the
held-out last day, then store the candidate (promoted or rejected). Prints models/min.
Exits 0 whatever the figures: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from _server import _throwaway_database

from forewarn.lifecycle.retrain import retrain_series
from forewarn.lifecycle.training import TrainSpec, train_model
from forewarn.runtime import Runtime, build_runtime
from forewarn.schemas.devices import DeviceCreate
from forewarn.services.devices import create_device
from forewarn.settings import Settings
from forewarn.telemetry.store import Row, write_rows

STEP_MS = 5 * 60_000
DAY_MS = 86_400_000
END_MS = 1_730_000_000_000


def _series(k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(k)
    ts = END_MS - STEP_MS * np.arange(n - 1, -1, -1, dtype=np.int64)
    values = rng.normal(20 + k % 17, 0.5 + (k % 5) / 10, n)
    if k % 3 == 0:
        values[-n // 3 :] += 3.0  # a new normal level the champion has not seen
    if k % 5 == 0:
        values[-50] += 15.0
    return ts, np.round(values, 3)


def _setup(runtime: Runtime, series: int, readings: int, algorithm: str) -> list[uuid.UUID]:
    """Devices, readings and champions; returns the champions' ids."""
    champions = []
    with runtime.sessions() as session:
        for k in range(series):
            device = create_device(session, DeviceCreate(name=f"bench {k}", type="pump")).id
            ts, values = _series(k, readings)
            rows = [Row(device, "value", int(t), float(v)) for t, v in zip(ts, values, strict=True)]
            write_rows(session.connection(), rows)
            session.commit()
            spec = TrainSpec(device, "value", end_ms=END_MS - 2 * DAY_MS, algorithm=algorithm)
            champions.append(train_model(session, runtime.registry, runtime.artifact_key, spec).id)
    return champions


@contextmanager
def _database(url: str | None) -> Iterator[str]:
    """A fresh database: a temporary SQLite file, or a new database on the PostgreSQL server."""
    if url is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    with _throwaway_database(url) as db_url:
        assert db_url is not None
        yield db_url


def run(url: str | None, series: int, readings: int, algorithm: str) -> None:
    """Set up, retrain every series, print the figures."""
    with _database(url) as db_url, tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            _env_file=None, data_dir=Path(data_dir), database_url=db_url,
            secret_key=secrets.token_urlsafe(40), retrain_enabled=False,
        )  # fmt: skip
        runtime = build_runtime(settings)
        try:
            started = time.perf_counter()
            champions = _setup(runtime, series, readings, algorithm)
            setup_s = time.perf_counter() - started
            started = time.perf_counter()
            outcomes = [retrain_series(runtime.retrainer, model_id) for model_id in champions]
            wall = time.perf_counter() - started
        finally:
            runtime.close()
    kinds = Counter(
        "promoted" if o.promoted else "failed" if o.evaluation is None else "rejected"
        for o in outcomes
    )
    backend = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
    print(f"backend            {backend}")
    print(f"series x readings  {series:,} x {readings:,} ({algorithm})")
    print(f"set-up (not timed) {setup_s:.1f} s: readings written, champions trained")
    print(f"retrained          {len(outcomes):,} in {wall:.1f} s: {dict(kinds)}")
    print(f"per series         {wall / len(outcomes) * 1000:.1f} ms")
    print(f"models/min         {len(outcomes) / wall * 60:,.0f}")


def main() -> None:
    """Parse the options and run once."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="PostgreSQL server (default SQLite)")
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--readings", type=int, default=1000)
    parser.add_argument("--algorithm", default="ensemble")
    args = parser.parse_args()
    run(args.database_url, args.series, args.readings, args.algorithm)


if __name__ == "__main__":
    main()
