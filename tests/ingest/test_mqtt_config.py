"""Broker settings: the URL's parts, the subscription filter, and refused values."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from forewarn.ingest.mqtt import BrokerConfig, subscription
from tests.factories import make_settings


def test_the_url_gives_host_port_tls_and_credentials(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        "sqlite://",
        mqtt_url="mqtts://ingest:p%40ss@broker.example:8884",
        mqtt_client_id="ingest-2",
        ingest_max_pending=5000,
    )
    config = BrokerConfig.from_settings(settings)
    assert (config.host, config.port, config.tls) == ("broker.example", 8884, True)
    assert (config.username, config.password) == ("ingest", "p@ss")
    assert (config.client_id, config.receive_maximum) == ("ingest-2", 5000)
    assert config.subscription == "forewarn/v1/devices/+/telemetry"
    plain = BrokerConfig.from_settings(make_settings(tmp_path, "sqlite://", mqtt_url="mqtt://b"))
    assert (plain.port, plain.tls, plain.username) == (1883, False, None)


def test_a_shared_group_wraps_the_filter() -> None:
    assert subscription("site/forewarn/v1", "") == "site/forewarn/v1/devices/+/telemetry"
    assert subscription("forewarn/v1", "ingest") == "$share/ingest/forewarn/v1/devices/+/telemetry"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mqtt_url", "tcp://127.0.0.1:1883"),
        ("mqtt_shared_group", "a/b"),
        ("mqtt_topic_root", "forewarn/+/v1"),
        ("mqtt_topic_root", "/forewarn"),
        ("mqtt_client_id", ""),
        ("ingest_max_pending", 70_000),  # the MQTT Receive Maximum is 16 bits
        ("ingest_batch_size", 0),
    ],
)
def test_unusable_values_are_refused_naming_the_setting(
    tmp_path: Path, field: str, value: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        make_settings(tmp_path, "sqlite://", **{field: value})
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]


def test_without_a_url_there_is_no_broker(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="FOREWARN_MQTT_URL"):
        BrokerConfig.from_settings(make_settings(tmp_path, "sqlite://"))
