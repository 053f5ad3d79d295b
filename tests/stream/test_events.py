"""The stream's message form, filters, and the Redis channel encoding."""

from __future__ import annotations

import json
import uuid

import pytest

from forewarn.errors import InvalidInputError
from forewarn.stream.events import AnomalyEvent, StreamFilter, parse_filter
from forewarn.stream.redis_fanout import decode, encode
from tests.stream.events import T0, event


def test_json_form_matches_the_rest_api_and_round_trips() -> None:
    original = event(0.91)
    data = json.loads(original.text)
    assert data["type"] == "anomaly"
    assert data["ts"] == "2024-10-27T03:33:20.123Z"
    assert data["detected_at"] == "2024-10-27T03:33:21.456789Z"
    assert data["device_id"] == str(original.device_id)
    assert data["event_id"] == str(original.event_id)
    assert (data["is_anomaly"], data["anomalous"]) == (True, True)  # it opened that event
    back = AnomalyEvent.from_dict(data)
    assert back == original and back.ts == T0


@pytest.mark.parametrize(
    "change",
    [
        {"type": "missed"},
        {"id": "not-a-uuid"},
        {"ts": "yesterday"},
        {"ts": "2024-10-27T03:33:20"},  # no time zone
        {"explanation": [1, 2]},
        {"event_id": "not-a-uuid"},
    ],
)
def test_malformed_messages_are_refused(change: dict[str, object]) -> None:
    data = {**json.loads(event().text), **change}
    with pytest.raises((ValueError, TypeError)):
        AnomalyEvent.from_dict(data)


def test_a_message_missing_a_field_is_refused() -> None:
    data = json.loads(event().text)
    del data["anomaly_score"]
    with pytest.raises(KeyError):
        AnomalyEvent.from_dict(data)


def test_filters_match_each_given_field() -> None:
    pump = uuid.uuid4()
    hot = event(0.9, device=pump)
    assert StreamFilter().matches(hot)
    assert StreamFilter(device_id=pump, metric_name="temperature", min_score=0.9).matches(hot)
    assert not StreamFilter(device_id=uuid.uuid4()).matches(hot)
    assert not StreamFilter(metric_name="vibration").matches(hot)
    assert not StreamFilter(min_score=0.95).matches(hot)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"device_id": "7"}, "device_id"),
        ({"metric_name": "a b"}, "metric_name"),
        ({"metric_name": "a,,b"}, "metric_name"),
        ({"min_score": "-0.1"}, "min_score"),
        ({"min_score": "nan"}, "min_score"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_bad_filters_name_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_filter(params)
    assert info.value.loc == ("query", field)


@pytest.mark.parametrize("series", ["temperature", "*", "temperature,vibration"])
def test_metric_filters_take_every_series_key(series: str) -> None:
    assert parse_filter({"metric_name": series}).metric_name == series


def test_filters_parse_from_query_strings() -> None:
    pump = uuid.uuid4()
    flt = parse_filter({"device_id": str(pump), "metric_name": "vibration", "min_score": "0.5"})
    assert flt == StreamFilter(device_id=pump, metric_name="vibration", min_score=0.5)


def test_channel_messages_carry_the_origin_and_every_event() -> None:
    batch = [event(0.7), event(0.8, metric="vibration")]
    origin, events = decode(encode("process-1", batch).encode())
    assert origin == "process-1" and events == batch


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"origin": "x"}', b'{"events": []}'])
def test_foreign_channel_messages_are_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode(raw)
