"""Fixtures of the health monitor tests: a frozen clock and fake remote services."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.monitor.fakes import FakeClock, FakeGitHub, FakeWebhook
from tests.monitor.helpers import REPO, TOKEN


@pytest.fixture
def clock() -> FakeClock:
    """The channels' clock and sleep: backoff and rate-limit waits move it, nothing waits."""
    return FakeClock()


@pytest.fixture
def github(clock: FakeClock) -> Iterator[FakeGitHub]:
    """A local GitHub issue API."""
    server = FakeGitHub(clock, TOKEN, REPO)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def webhook(clock: FakeClock) -> Iterator[FakeWebhook]:
    """A local webhook receiver."""
    server = FakeWebhook(clock)
    server.start()
    yield server
    server.stop()
