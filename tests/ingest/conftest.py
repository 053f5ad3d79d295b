"""Fixtures of the ingest tests: a clean PostgreSQL database and a broker URL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from forewarn.db.engine import make_engine
from tests.conftest import TABLES, service_url


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} CASCADE"))
    engine.dispose()
    return postgres_url


@pytest.fixture
def mqtt_url() -> str:
    """The machine's Mosquitto (tests isolate themselves by topic root and client id)."""
    return service_url("FOREWARN_TEST_MQTT_URL")
