"""Lifecycle tests: settings per test through the `lifecycle_settings` marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from forewarn.settings import Settings
from tests.factories import make_settings


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (the suite runs with --strict-markers)."""
    config.addinivalue_line(
        "markers", "lifecycle_settings(**overrides): settings of the test's runtime"
    )


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """The shared test settings with this test's `lifecycle_settings` overrides."""
    marker = request.node.get_closest_marker("lifecycle_settings")
    overrides = dict(marker.kwargs) if marker is not None else {}
    return make_settings(tmp_path, database_url, **overrides)
