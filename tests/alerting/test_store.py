"""The database keeps one open alarm per (originator, rule), whatever the code does."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from forewarn.alarms.lifecycle import Severity, clear, raise_alarm
from forewarn.alerting import store
from forewarn.runtime import Runtime
from tests.factories import T0, Headers, register_device


def test_a_second_open_alarm_of_a_rule_on_a_series_is_refused(
    runtime: Runtime, client: TestClient, admin: Headers
) -> None:
    device = uuid.UUID(register_device(client, admin))
    key = store.series_key(device, "temperature")
    first, _ = raise_alarm(key, "ml-default", Severity.MINOR, now=T0)
    closed, _ = clear(first, now=T0 + 1)
    with runtime.sessions() as session:
        session.add(store.new_row(closed, device, "temperature"))
        session.add(store.new_row(first, device, "temperature"))
        session.commit()  # a cleared alarm and an open one live side by side
        session.add(store.new_row(first, device, "temperature"))
        with pytest.raises(IntegrityError):
            session.commit()
