"""Field types shared by every schema."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from forewarn.telemetry.readings import METRIC_NAME_PATTERN, parse_timestamp

MetricName = Annotated[
    str,
    StringConstraints(pattern=f"^{METRIC_NAME_PATTERN}$"),
    Field(description="Metric name: letters, digits, `_`, `.`, `-`; at most 64 characters."),
]
# pydantic's own check of the reading rule's finite value (`finite_value`), kept native
# because a Python validator per value would slow 100,000-value batches.
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]


TimestampMs = Annotated[
    int,
    BeforeValidator(parse_timestamp),
    Field(
        description="Epoch milliseconds or ISO 8601 (UTC when no offset is given).",
        examples=[1730000000000, "2024-10-27T03:33:20Z"],
    ),
]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A list response: the items and the total count."""

    data: list[T]
    count: int
