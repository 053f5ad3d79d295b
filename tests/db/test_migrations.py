"""Migrations produce exactly the ORM schema, and go down and up again, on both backends."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from forewarn.db.engine import make_engine
from forewarn.db.migrate import downgrade, upgrade
from forewarn.db.models import Base

EXPECTED_TABLES = {
    "users",
    "devices",
    "telemetry",
    "ml_models",
    "anomaly_detections",
    "health_findings",
    "health_escalations",
    "health_scans",
    "dead_letters",
    "anomaly_feedback",
    "model_metrics",
}


def _schema_diff(url: str) -> list[object]:
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    return list(diff)


def test_migrated_schema_matches_models(database_url: str) -> None:
    assert _schema_diff(database_url) == []
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("ml_models")}
    engine.dispose()
    assert tables >= EXPECTED_TABLES
    assert {"ix_ml_models_series", "uq_ml_models_active_series"} <= indexes


def test_downgrade_then_upgrade_round_trip(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/roundtrip.db"  # PostgreSQL's copy is shared by the session
    engine = make_engine(url)
    upgrade(engine)
    downgrade(engine, "base")
    assert EXPECTED_TABLES.isdisjoint(inspect(engine).get_table_names())
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= EXPECTED_TABLES
    engine.dispose()
    assert _schema_diff(url) == []
