"""Model health scan over 10,000 active models: how long one scan takes, SQLite and PostgreSQL.

Run: .venv/bin/python benchmarks/bench_monitor.py [--database-url postgresql://...] [--models N]

Each backend gets a throw-away database and data directory holding N active models (four
metrics on each of N/4 devices) plus 2,000 inactive versions (250 series keeping 8 each),
one artifact file per model on disk. Training and last-use times are drawn so that every
check has offenders: about half the models are stale, a fifth inactive, 250 series over the
cleanup limit, and the storage limit is set below the directory's size.

Timed (wall clock around `HealthMonitor.scan`, which flushes usage, takes the scan lock,
gathers the facts, reconciles the findings, escalates and records the scan): the first scan,
which inserts every finding; a steady scan where nothing changed (median of 5); and a scan
after 2,000 models changed (half recover, half go quiet). Escalation runs through the log
channel (silenced here), at most FOREWARN_ESCALATION_MAX_PER_SCAN events per scan. Target:
a scan <= 2 s. Exits 0 whatever the figures: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from _server import _throwaway_database, is_postgres_url, print_report, verdict
from sqlalchemy import insert, update

from forewarn.db.models import Device, MLModel
from forewarn.db.types import utcnow
from forewarn.monitor.scan import HealthMonitor, ScanReport
from forewarn.runtime import Runtime, build_runtime
from forewarn.settings import Settings

TARGET_S = 2.0
METRICS = ("temperature", "vibration", "pressure", "current")
CLEANUP_SERIES, INACTIVE_EACH = 250, 8
ARTIFACT = b"\0" * 1024


def _model(
    device: uuid.UUID, metric: str, version: int, active: bool, rng: random.Random, now: Any
) -> dict[str, Any]:
    trained = now - timedelta(days=rng.uniform(0, 14))
    quiet = rng.random() < 0.2
    used = None if quiet else now - timedelta(hours=rng.uniform(0, 20))
    return {
        "id": uuid.uuid4(),
        "device_id": device,
        "metric_name": metric,
        "version": version,
        "algorithm": "ensemble",
        "parameters": {},
        "training_start": trained - timedelta(days=7),
        "training_end": trained,
        "sample_count": 1000,
        "threshold": 0.9,
        "artifact_path": f"{device}/{metric}/model_v{version}.npz",
        "artifact_size": len(ARTIFACT),
        "created_at": trained,
        "last_used_at": used,
        "prediction_count": 0 if quiet else 100,
        "anomaly_count": 0,
        "is_active": active,
    }


def populate(runtime: Runtime, models: int, rng: random.Random) -> list[uuid.UUID]:
    """Insert devices, active models and inactive versions, with one file each; active ids."""
    now = utcnow()
    devices = [
        {"id": uuid.uuid4(), "name": f"Pump {i}", "type": "pump", "metadata_": {}}
        for i in range(models // len(METRICS))
    ]
    rows = []
    for index, device in enumerate(devices):
        for metric in METRICS:
            old = INACTIVE_EACH if index * len(METRICS) < CLEANUP_SERIES else 0
            rows += [_model(device["id"], metric, v, False, rng, now) for v in range(1, old + 1)]
            rows.append(_model(device["id"], metric, old + 1, True, rng, now))
    with runtime.sessions() as session:
        session.execute(insert(Device), devices)
        session.execute(insert(MLModel), rows)
        session.commit()
    model_dir = runtime.settings.resolved_model_dir
    for row in rows:
        path = model_dir / row["artifact_path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(ARTIFACT)
    return [row["id"] for row in rows if row["is_active"]]


def churn(runtime: Runtime, active: list[uuid.UUID], rng: random.Random) -> None:
    """2,000 models change: half predict now, half have been quiet for two days."""
    now = utcnow()
    picked = rng.sample(active, min(2000, len(active)))
    half = len(picked) // 2
    with runtime.sessions() as session:
        for ids, used in ((picked[:half], now), (picked[half:], now - timedelta(days=2))):
            session.execute(update(MLModel).where(MLModel.id.in_(ids)).values(last_used_at=used))
        session.commit()


def timed(monitor: HealthMonitor) -> tuple[float, ScanReport]:
    """Seconds of one scan, and its report."""
    started = time.perf_counter()
    report = monitor.scan()
    return time.perf_counter() - started, report


def bench(database_url: str | None, models: int) -> list[tuple[str, str, str, str]]:
    """The rows of one backend."""
    label = "PostgreSQL" if database_url else "SQLite"
    with tempfile.TemporaryDirectory(prefix="forewarn-bench-monitor-") as work:
        settings = Settings(
            _env_file=None, data_dir=Path(work), database_url=database_url, monitor_storage_mb=1
        )
        runtime = build_runtime(settings)
        try:
            rng = random.Random(7)
            active = populate(runtime, models, rng)
            first_s, first = timed(runtime.monitor)
            steady = [timed(runtime.monitor)[0] for _ in range(5)]
            churn(runtime, active, rng)
            churn_s, changed = timed(runtime.monitor)
        finally:
            runtime.close()
    steady_s = statistics.median(steady)
    size = f"{first.models_total:,} models ({first.models_active:,} active)"
    return [
        (
            f"{label}: first scan, {size}, opens {first.opened:,} findings",
            f"{first_s:.2f} s",
            f"<= {TARGET_S:g} s",
            verdict(first_s <= TARGET_S),
        ),
        (
            f"{label}: steady scan, nothing changed (median of 5)",
            f"{steady_s:.2f} s",
            f"<= {TARGET_S:g} s",
            verdict(steady_s <= TARGET_S),
        ),
        (
            f"{label}: scan after 2,000 models changed (+{changed.opened:,} / "
            f"-{changed.resolved:,} findings)",
            f"{churn_s:.2f} s",
            f"<= {TARGET_S:g} s",
            verdict(churn_s <= TARGET_S),
        ),
    ]


def main() -> None:
    """Populate each backend, scan, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server to create a throw-away database on (SQLite always runs)",
    )
    parser.add_argument("--models", type=int, default=10_000, help="Active models")
    args = parser.parse_args()
    if args.database_url is not None and not is_postgres_url(args.database_url):
        parser.error("--database-url must be a PostgreSQL URL; SQLite always runs")
    logging.getLogger("forewarn.health").setLevel(logging.ERROR)  # the log channel's lines
    rows = bench(None, args.models)
    if args.database_url:
        with _throwaway_database(args.database_url) as url:
            rows += bench(url, args.models)
    notes = [
        f"{CLEANUP_SERIES} series keep {INACTIVE_EACH} inactive versions each; "
        "one 1 KB artifact file per model is on disk (the storage check walks them all)",
        "wall clock around HealthMonitor.scan(): usage flush, lock, facts, findings, "
        "escalation (log channel) and the scan record",
    ]
    print_report("Forewarn model health scan", rows, notes)


if __name__ == "__main__":
    main()
