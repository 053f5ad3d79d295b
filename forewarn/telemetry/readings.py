"""The one rule a reading must meet, however it arrives (HTTP, MQTT, CSV).

A reading is a timestamp and 1 to `MAX_METRICS_PER_READING` metric values. A metric name is
`METRIC_NAME_PATTERN`; a value is a finite number; a timestamp is epoch milliseconds or ISO
8601 between 2000-01-01 and 24 hours from now. The HTTP schemas (`schemas.common.MetricName`,
`TimestampMs`, `schemas.telemetry.Reading`), the MQTT payload parser and the CSV importer all
take their checks from here; each only words the error for its own caller.

>>> metric_name("rpm"), finite_value(1450), parse_timestamp("2024-10-27T03:33:20Z")
('rpm', 1450.0, 1730000000000)
>>> finite_value(float("nan"))
Traceback (most recent call last):
...
forewarn.telemetry.readings.ReadingRuleError: NaN is not a finite number
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard

from forewarn.errors import ForewarnError, InvalidInputError

METRIC_NAME_PATTERN = r"[A-Za-z0-9_.\-]{1,64}"
METRIC_NAME_RULE = "metric names are 1-64 of A-Z a-z 0-9 _ . -"
MAX_METRICS_PER_READING = 256
# 2000-01-01T00:00:00Z: anything earlier is almost always epoch seconds sent as milliseconds.
MIN_TS_MS = 946_684_800_000
MAX_FUTURE_MS = 24 * 3600 * 1000

_METRIC_NAME = re.compile(METRIC_NAME_PATTERN)
_SHOWN = 40  # characters of an offending value quoted in a message
# Above this an int has no float (float() raises OverflowError).
_LARGEST_INT = 2**1023

Part = Literal["metric", "value", "timestamp", "shape"]


class ReadingRuleError(ForewarnError, ValueError):
    """A reading breaks the rule; `part` says which part (the caller names the field).

    A `ValueError`, so a pydantic validator reports it as a validation error of its field.
    """

    def __init__(self, part: Part, message: str) -> None:
        super().__init__(message)
        self.part = part
        self.message = message


def is_metric_name(name: object) -> TypeGuard[str]:
    """True if `name` is a valid metric name."""
    return isinstance(name, str) and _METRIC_NAME.fullmatch(name) is not None


def metric_name(name: object) -> str:
    """`name` if it is a valid metric name; ReadingRuleError otherwise."""
    if is_metric_name(name):
        return name
    raise ReadingRuleError("metric", METRIC_NAME_RULE)


def finite_value(value: object) -> float:
    """A number as a finite float; ReadingRuleError for NaN, infinities and non-numbers."""
    if type(value) is float:  # the common case first: batches hold 100,000 of them
        if math.isfinite(value):
            return value
    elif type(value) is int and abs(value) < _LARGEST_INT:  # not bool: its type is bool
        return float(value)
    problem = "is not a finite number" if type(value) in (int, float) else "is not a number"
    raise ReadingRuleError("value", f"{_shown(value)} {problem}")


def _shown(value: object) -> str:
    """A value as its JSON text (NaN, Infinity, null, "text"), cut short."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text[:_SHOWN]


def check_metric_count(count: int) -> None:
    """ReadingRuleError unless a reading has 1 to MAX_METRICS_PER_READING metrics."""
    if not 1 <= count <= MAX_METRICS_PER_READING:
        raise ReadingRuleError(
            "shape", f"has {count} metrics; 1 to {MAX_METRICS_PER_READING} allowed"
        )


def check_batch_size(count: int, limit: int, unit: str = "readings") -> None:
    """InvalidInputError, on the batch as a whole (an empty location), if it holds more than
    `limit` items; the edge locates it (`err.within("body")`)."""
    if count > limit:
        raise InvalidInputError((), f"batch has {count} {unit}; limit is {limit}")


def parse_timestamp(value: Any) -> int:
    """Epoch milliseconds from an integer (ms) or an ISO 8601 string; checks the range."""
    if type(value) is int:  # the common case first: batches hold 100,000 of them
        return _check_range(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ReadingRuleError(
            "timestamp", "timestamp must be epoch milliseconds or an ISO 8601 string"
        )
    if isinstance(value, str) and value.strip().isdigit():
        ts = int(value.strip())
    elif isinstance(value, str):
        ts = _iso_to_ms(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ReadingRuleError("timestamp", "timestamp must be a finite number")
    else:
        ts = int(value)
    return _check_range(ts)


def _iso_to_ms(text: str) -> int:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError as err:
        raise ReadingRuleError("timestamp", f"timestamp {text[:_SHOWN]!r} is not ISO 8601") from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _check_range(ts: int) -> int:
    if ts < MIN_TS_MS:
        raise ReadingRuleError(
            "timestamp", "timestamp is before 2000-01-01; send epoch milliseconds, not seconds"
        )
    if ts > time.time() * 1000 + MAX_FUTURE_MS:
        raise ReadingRuleError("timestamp", "timestamp is more than 24 hours in the future")
    return ts
