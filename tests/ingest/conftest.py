"""Fixtures of the ingest tests: a clean PostgreSQL database and a broker URL."""

from __future__ import annotations

import pytest

from tests.support import empty_tables, service_url


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    empty_tables(postgres_url)
    return postgres_url


@pytest.fixture
def mqtt_url() -> str:
    """The machine's Mosquitto (tests isolate themselves by topic root and client id)."""
    return service_url("FOREWARN_TEST_MQTT_URL")
