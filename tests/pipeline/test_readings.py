"""The one reading rule: the HTTP schema, the MQTT parser and the CSV checks agree with it."""

from __future__ import annotations

import json
import math
import uuid

import pytest
from pydantic import ValidationError

from forewarn.ingest.payloads import Accepted, PayloadRules, Refusal, parse_message
from forewarn.schemas.telemetry import Reading
from forewarn.telemetry.readings import (
    MAX_METRICS_PER_READING,
    ReadingRuleError,
    check_metric_count,
    finite_value,
    is_metric_name,
    metric_name,
    parse_timestamp,
)

DEVICE = uuid.UUID("3f2b8c1e-8a4d-4e0b-9f6a-2c5d7e9a1b3c")
RULES = PayloadRules(topic_root="forewarn/v1", max_bytes=1 << 20)
TOPIC = f"forewarn/v1/devices/{DEVICE}/telemetry"
T = 1_730_000_000_000


def http_accepts(body: object) -> bool:
    """True if the HTTP telemetry schema takes the reading."""
    try:
        Reading.model_validate_json(json.dumps(body))
    except ValidationError:
        return False
    return True


def mqtt_accepts(body: object) -> bool:
    """True if the MQTT payload parser takes the reading."""
    outcome = parse_message(TOPIC, json.dumps(body).encode(), T, RULES)
    assert isinstance(outcome, Accepted | Refusal)
    return isinstance(outcome, Accepted)


@pytest.mark.parametrize(
    "name", ["temperature", "a.b-c_D9", "x" * 64, "x" * 65, "", "bad name", "temp/1", "ü"]
)
def test_metric_names_are_judged_alike_everywhere(name: str) -> None:
    valid = is_metric_name(name)
    assert http_accepts({"ts": T, "values": {name: 1.0}}) is valid
    assert mqtt_accepts({"ts": T, "values": {name: 1.0}}) is valid
    if not valid:
        with pytest.raises(ReadingRuleError, match="metric names"):
            metric_name(name)  # what the CSV importer checks its --metric columns with


@pytest.mark.parametrize("value", [25.1, -3, 0, 1e308, math.nan, math.inf, -math.inf])
def test_values_are_judged_alike_everywhere(value: float) -> None:
    valid = math.isfinite(value)
    body = {"ts": T, "values": {"t": value}}
    assert http_accepts(body) is valid
    assert mqtt_accepts(body) is valid
    if valid:
        assert finite_value(value) == value
    else:
        with pytest.raises(ReadingRuleError, match="finite"):
            finite_value(value)


@pytest.mark.parametrize(
    "ts", [T, "2024-10-27T03:33:20Z", str(T), 1_730_000_000, "yesterday", 9e99, True]
)
def test_timestamps_are_judged_alike_everywhere(ts: object) -> None:
    try:
        parse_timestamp(ts)
        valid = True
    except ReadingRuleError:
        valid = False
    body = {"ts": ts, "values": {"t": 1.0}}
    assert http_accepts(body) is valid
    assert mqtt_accepts(body) is valid


@pytest.mark.parametrize("count", [1, MAX_METRICS_PER_READING, MAX_METRICS_PER_READING + 1])
def test_the_metric_count_is_judged_alike_everywhere(count: int) -> None:
    valid = count <= MAX_METRICS_PER_READING
    body = {"ts": T, "values": {f"m{i}": 1.0 for i in range(count)}}
    assert http_accepts(body) is valid
    assert mqtt_accepts(body) is valid
    if not valid:
        with pytest.raises(ReadingRuleError, match="metrics"):
            check_metric_count(count)
