"""Topic and payload checks: the accepted shapes, and every refusal kind with its field."""

from __future__ import annotations

import json
import uuid

import pytest

from forewarn.ingest.payloads import (
    Accepted,
    PayloadRules,
    Refusal,
    parse_message,
)
from forewarn.telemetry.dead_letters import KINDS
from forewarn.telemetry.store import Row

RULES = PayloadRules(topic_root="plant/forewarn/v1", max_bytes=8192)
DEVICE = uuid.UUID("3f2b8c1e-8a4d-4e0b-9f6a-2c5d7e9a1b3c")
TOPIC = f"plant/forewarn/v1/devices/{DEVICE}/telemetry"
NOW = 1_764_000_000_000  # the receipt time handed to the parser
T = 1_730_000_000_000


def accepted(payload: object | bytes, topic: str = TOPIC) -> list[Row]:
    """Rows of a payload that must be accepted."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    outcome = parse_message(topic, raw, NOW, RULES)
    assert isinstance(outcome, Accepted), outcome
    assert outcome.device_id == DEVICE
    return outcome.rows


def refused(payload: object | bytes, topic: str = TOPIC) -> Refusal:
    """The refusal of a payload that must be refused."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    outcome = parse_message(topic, raw, NOW, RULES)
    assert isinstance(outcome, Refusal), outcome
    assert outcome.kind in KINDS
    return outcome


def test_flat_values_are_stamped_with_the_receipt_time() -> None:
    rows = accepted({"temperature": 25.1, "rpm": 1450})
    assert rows == [Row(DEVICE, "temperature", NOW, 25.1), Row(DEVICE, "rpm", NOW, 1450.0)]
    assert all(type(row.value) is float for row in rows)


def test_ts_and_values_keep_their_time_in_ms_or_iso() -> None:
    assert accepted({"ts": T, "values": {"temperature": 25.1}}) == [
        Row(DEVICE, "temperature", T, 25.1)
    ]
    iso = accepted({"ts": "2024-10-27T05:33:20+02:00", "values": {"t": -1.5}})
    assert iso == [Row(DEVICE, "t", T, -1.5)]
    assert accepted({"values": {"t": 1.0}}) == [Row(DEVICE, "t", NOW, 1.0)]


def test_an_array_mixes_both_forms() -> None:
    rows = accepted(
        [{"ts": T, "values": {"a": 1.0, "b": 2.0}}, {"a": 3.0}, {"ts": T + 5, "values": {"a": 4}}]
    )
    assert rows == [
        Row(DEVICE, "a", T, 1.0),
        Row(DEVICE, "b", T, 2.0),
        Row(DEVICE, "a", NOW, 3.0),
        Row(DEVICE, "a", T + 5, 4.0),
    ]


def test_device_ids_are_read_from_the_topic_in_any_uuid_spelling() -> None:
    assert accepted({"t": 1.0}, TOPIC.replace(str(DEVICE), DEVICE.hex.upper()))


# (payload or topic, expected kind, words the reason must contain: the field and the problem)
CASES: list[tuple[str, object, str, tuple[str, ...]]] = [
    ("topic", "plant/forewarn/v1/devices/pump-7/telemetry", "bad_topic", ("'pump-7'", "UUID")),
    ("topic", f"plant/forewarn/v1/devices/{DEVICE}/attributes", "bad_topic", ("telemetry",)),
    ("topic", f"other/v1/devices/{DEVICE}/telemetry", "bad_topic", ("plant/forewarn/v1",)),
    ("topic", f"plant/forewarn/v1/devices/{DEVICE}/x/telemetry", "bad_topic", ("device_id",)),
    ("payload", b"x" * 8193, "oversized", ("8193 bytes", "8192")),
    ("payload", b'{"temperature": 25.1', "bad_json", ("not JSON",)),
    ("payload", b"\xff\xfe{}", "bad_json", ("UTF-8",)),
    ("payload", b"", "bad_json", ("not JSON",)),
    ("payload", 25.1, "bad_shape", ("payload", "object")),
    ("payload", [], "bad_shape", ("non-empty",)),
    ("payload", [{"t": 1.0}, 7], "bad_shape", ("[1]", "object")),
    ("payload", {}, "bad_shape", ("payload", "0 metrics")),
    ("payload", {"ts": T, "temperature": 1.0}, "bad_shape", ("'temperature'", "ts/values")),
    ("payload", {"ts": T, "values": [1.0]}, "bad_shape", ("values", "object")),
    ("payload", {"ts": T}, "bad_shape", ("values", "object")),
    ("payload", {"values": {f"m{i}": 1.0 for i in range(257)}}, "bad_shape", ("257 metrics",)),
    ("payload", {"bad name": 1.0}, "bad_metric", ("bad name", "metric names")),
    ("payload", {"values": {"x" * 65: 1.0}}, "bad_metric", ("values.xxx",)),
    ("payload", {"temperature": "25.1"}, "bad_value", ("temperature", '"25.1"', "not a number")),
    ("payload", {"temperature": None}, "bad_value", ("temperature", "null")),
    ("payload", {"temperature": True}, "bad_value", ("temperature", "true")),
    ("payload", {"temperature": [1.0]}, "bad_value", ("temperature",)),
    (
        "payload",
        b'{"values": {"temperature": NaN}}',
        "bad_value",
        ("values.temperature", "NaN", "finite"),
    ),
    ("payload", b'[{"t": 1}, {"t": -Infinity}]', "bad_value", ("[1].t", "finite")),
    ("payload", {"t": 10**400}, "bad_value", ("t", "finite")),
    ("payload", {"ts": 1_730_000_000, "values": {"t": 1.0}}, "bad_timestamp", ("ts", "seconds")),
    ("payload", [{"ts": "yesterday", "values": {"t": 1.0}}], "bad_timestamp", ("[0].ts", "ISO")),
    ("payload", {"ts": True, "values": {"t": 1.0}}, "bad_timestamp", ("ts",)),
    ("payload", {"ts": 9e99, "values": {"t": 1.0}}, "bad_timestamp", ("ts", "future")),
]


@pytest.mark.parametrize(("where", "value", "kind", "words"), CASES)
def test_refusals_have_a_kind_and_a_reason_naming_the_field(
    where: str, value: object, kind: str, words: tuple[str, ...]
) -> None:
    refusal = refused(value) if where == "payload" else refused({"t": 1.0}, str(value))
    assert refusal.kind == kind
    for word in words:
        assert word in refusal.reason, refusal.reason


def test_one_bad_value_refuses_the_whole_message() -> None:
    refusal = refused([{"ts": T, "values": {"a": 1.0}}, {"ts": T + 1, "values": {"a": "x"}}])
    assert (refusal.kind, refusal.reason) == ("bad_value", '[1].values.a: "x" is not a number')


def test_every_parser_kind_is_exercised() -> None:
    # unknown_device and store_failed need a database: see test_writer.py.
    assert {case[2] for case in CASES} == KINDS - {"unknown_device", "store_failed"}
