"""An MQTT topic and payload become readings, or a refusal with its kind and a reason.

Accepted payloads are the shapes devices already send to ThingsBoard:

- ``{"temperature": 25.1, "humidity": 55}``: values at the time the message arrived;
- ``{"ts": 1730000000000, "values": {"temperature": 25.1}}``: values at ``ts`` (epoch ms or
  ISO 8601, as on the HTTP API);
- a JSON array of either.

A message is all or nothing: one bad value refuses the whole message, and the reason names the
field (``[2].values.temperature: NaN is not a finite number``). Names, values, timestamps and
the metric count are checked by the one reading rule, `forewarn.telemetry.readings`.

>>> rules = PayloadRules(topic_root="forewarn/v1", max_bytes=1024)
>>> topic = "forewarn/v1/devices/3f2b8c1e-8a4d-4e0b-9f6a-2c5d7e9a1b3c/telemetry"
>>> parse_message(topic, b'{"ts": 1730000000000, "values": {"rpm": 1450}}', 0, rules).rows
[Row(device_id=UUID('3f2b8c1e-8a4d-4e0b-9f6a-2c5d7e9a1b3c'), metric_name='rpm', \
ts=1730000000000, value=1450.0)]
>>> parse_message(topic, b'{"rpm": "fast"}', 0, rules)
Refusal(kind='bad_value', reason='rpm: "fast" is not a number')
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass
from typing import Any

from forewarn.telemetry.readings import (
    METRIC_NAME_RULE,
    ReadingRuleError,
    check_metric_count,
    finite_value,
    is_metric_name,
    parse_timestamp,
)
from forewarn.telemetry.store import Row

_SHOWN = 40  # characters of an offending value quoted in a reason


@dataclass(frozen=True)
class PayloadRules:
    """What a message must look like: its topic root and its largest size."""

    topic_root: str
    max_bytes: int


@dataclass(frozen=True, slots=True)
class Accepted:
    """A message's readings, one row per metric value."""

    device_id: uuid.UUID
    rows: list[Row]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a message cannot be stored."""

    kind: str
    reason: str


class _Refused(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.refusal = Refusal(kind, reason)


def parse_message(
    topic: str, payload: bytes, received_ms: int, rules: PayloadRules
) -> Accepted | Refusal:
    """Readings of one message (timeless ones at `received_ms`), or why it is refused."""
    try:
        device_id = _device_of(topic, rules.topic_root)
        if len(payload) > rules.max_bytes:
            size = f"payload has {len(payload)} bytes; the limit is {rules.max_bytes}"
            raise _Refused("oversized", size)
        return Accepted(device_id, _rows(device_id, _decode(payload), received_ms))
    except _Refused as refused:
        return refused.refusal


def _device_of(topic: str, root: str) -> uuid.UUID:
    """The device id of a telemetry topic under `root`."""
    device_id = _topic_device(topic, root)
    if device_id is not None:
        return device_id
    middle = _middle(topic, root)
    if middle is not None:
        raise _Refused("bad_topic", f"topic device id {middle[:_SHOWN]!r} is not a UUID")
    raise _Refused("bad_topic", f"topic must be {root}/devices/{{device_id}}/telemetry")


def _middle(topic: str, root: str) -> str | None:
    head, tail = f"{root}/devices/", "/telemetry"
    if not (topic.startswith(head) and topic.endswith(tail)):
        return None
    middle = topic[len(head) : -len(tail)]
    return middle if middle and "/" not in middle else None


@functools.lru_cache(maxsize=65_536)  # devices send on the same topic again and again
def _topic_device(topic: str, root: str) -> uuid.UUID | None:
    middle = _middle(topic, root)
    try:
        return uuid.UUID(middle) if middle is not None else None
    except ValueError:
        return None


def _decode(payload: bytes) -> Any:
    try:
        return json.loads(payload.decode("utf-8"))  # RFC 8259: JSON on the wire is UTF-8
    except UnicodeDecodeError:
        raise _Refused("bad_json", "payload is not UTF-8") from None
    except (ValueError, RecursionError) as err:
        raise _Refused("bad_json", f"payload is not JSON: {str(err)[:80]}") from None


def _rows(device_id: uuid.UUID, doc: Any, received_ms: int) -> list[Row]:
    if isinstance(doc, dict):
        return _reading(device_id, doc, "", received_ms)
    if not isinstance(doc, list) or not doc:
        raise _Refused("bad_shape", "payload must be a JSON object or a non-empty array of them")
    rows: list[Row] = []
    for index, item in enumerate(doc):
        rows.extend(_reading(device_id, item, f"[{index}]", received_ms))
    return rows


def _reading(device_id: uuid.UUID, item: Any, where: str, received_ms: int) -> list[Row]:
    """Rows of one reading: a flat {metric: value} or {ts, values}."""
    if not isinstance(item, dict):
        raise _Refused("bad_shape", f"{where or 'payload'}: must be an object")
    ts, values, prefix = received_ms, item, where
    if "values" in item or "ts" in item:
        extra = sorted(set(item) - {"ts", "values"})
        if extra:
            problem = f"unexpected field {extra[0][:_SHOWN]!r} next to ts/values"
            raise _Refused("bad_shape", f"{where or 'payload'}: {problem}")
        if not isinstance(item.get("values"), dict):
            raise _Refused("bad_shape", f"{_at(where, 'values')}: must be an object")
        values, prefix = item["values"], _at(where, "values")
        if "ts" in item:
            ts = _timestamp(item["ts"], _at(where, "ts"))
    try:
        check_metric_count(len(values))
    except ReadingRuleError as err:
        raise _Refused("bad_shape", f"{prefix or 'payload'}: {err.message}") from None
    return [Row(device_id, name, ts, _value(name, value, prefix)) for name, value in values.items()]


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _timestamp(value: Any, where: str) -> int:
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError) as err:
        raise _Refused("bad_timestamp", f"{where}: {err}") from None


def _value(name: str, value: Any, prefix: str) -> float:
    if not is_metric_name(name):
        raise _Refused("bad_metric", f"{_at(prefix, name[:_SHOWN])}: {METRIC_NAME_RULE}")
    try:
        return finite_value(value)
    except ReadingRuleError as err:
        raise _Refused("bad_value", f"{_at(prefix, name[:_SHOWN])}: {err.message}") from None
