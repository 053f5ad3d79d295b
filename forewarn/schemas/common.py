"""Field types shared by every schema."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

# 2000-01-01T00:00:00Z: anything earlier is almost always epoch seconds sent as milliseconds.
MIN_TS_MS = 946_684_800_000
MAX_FUTURE_MS = 24 * 3600 * 1000

MetricName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$"),
    Field(description="Metric name: letters, digits, `_`, `.`, `-`; at most 64 characters."),
]
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def parse_timestamp(value: Any) -> int:
    """Epoch milliseconds from an integer (ms) or an ISO 8601 string; checks the range."""
    if type(value) is int:  # the common case first: batches hold 100,000 of them
        return _check_range(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("timestamp must be epoch milliseconds or an ISO 8601 string")
    if isinstance(value, str) and value.strip().isdigit():
        ts = int(value.strip())
    elif isinstance(value, str):
        ts = _iso_to_ms(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("timestamp must be a finite number")
    else:
        ts = int(value)
    return _check_range(ts)


def _iso_to_ms(text: str) -> int:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError as err:
        raise ValueError(f"timestamp {text[:40]!r} is not ISO 8601") from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _check_range(ts: int) -> int:
    if ts < MIN_TS_MS:
        raise ValueError("timestamp is before 2000-01-01; send epoch milliseconds, not seconds")
    if ts > time.time() * 1000 + MAX_FUTURE_MS:
        raise ValueError("timestamp is more than 24 hours in the future")
    return ts


TimestampMs = Annotated[
    int,
    BeforeValidator(parse_timestamp),
    Field(
        description="Epoch milliseconds or ISO 8601 (UTC when no offset is given).",
        examples=[1730000000000, "2024-10-27T03:33:20Z"],
    ),
]


def ms_to_datetime(ts: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ts / 1000, UTC)


def datetime_to_ms(value: datetime) -> int:
    """An aware datetime to epoch milliseconds."""
    return int(value.timestamp() * 1000)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A list response: the items and the total count."""

    data: list[T]
    count: int
