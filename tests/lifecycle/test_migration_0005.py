"""Migration 0005 on a database with models: status follows is_active for existing rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from forewarn.db.engine import make_engine
from forewarn.db.migrate import upgrade

pytestmark = pytest.mark.slow


def test_existing_models_get_a_status_from_is_active(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    upgrade(engine, "0004")
    device = "0" * 32
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO devices (id, name, type, metadata, created_at) "
                "VALUES (:id, 'p', 'pump', '{}', '2026-01-01')"
            ),
            {"id": device},
        )
        for version, active in ((1, False), (2, True)):
            conn.execute(
                text(
                    "INSERT INTO ml_models (id, device_id, metric_name, version, algorithm, "
                    "parameters, training_start, training_end, sample_count, threshold, "
                    "artifact_path, artifact_size, created_at, prediction_count, anomaly_count, "
                    "is_active) VALUES (:id, :device, 't', :version, 'ensemble', '{}', "
                    "'2026-01-01', '2026-01-02', 10, 0.5, 'a.npz', 1, '2026-01-02', 0, 0, :active)"
                ),
                {"id": f"{version:032d}", "device": device, "version": version, "active": active},
            )
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT version, status FROM ml_models ORDER BY version")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, "inactive"), (2, "active")]
