"""What travels on the live stream: committed anomalies, in one JSON form everywhere."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from forewarn.errors import InvalidInputError
from forewarn.telemetry.readings import METRIC_NAME_PATTERN

# A series key as models store it: one metric, "*", or metrics joined by commas.
SeriesKey = Annotated[
    str,
    StringConstraints(pattern=rf"^(\*|{METRIC_NAME_PATTERN}(,{METRIC_NAME_PATTERN}){{0,63}})$"),
]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class AnomalyEvent:
    """One committed anomaly, as WebSocket clients, Redis peers and MQTT subscribers see it."""

    id: uuid.UUID
    model_id: uuid.UUID
    device_id: uuid.UUID
    metric_name: str
    value: float
    anomaly_score: float
    threshold: float
    ts: int  # epoch milliseconds of the reading
    detected_at: datetime
    explanation: dict[str, Any] | None = None
    event_id: uuid.UUID | None = None  # the excursion this reading opened

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AnomalyEvent:
        """The event of an `anomaly_detections` row as scoring inserts it."""
        return cls(**{field.name: row[field.name] for field in fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: the fields of GET /ml/anomalies, plus `"type": "anomaly"`. A
        stored anomaly is a reading that opened an event: `is_anomaly` and `anomalous`."""
        return {
            "type": "anomaly",
            "id": str(self.id),
            "event_id": None if self.event_id is None else str(self.event_id),
            "is_anomaly": True,
            "anomalous": True,
            "model_id": str(self.model_id),
            "device_id": str(self.device_id),
            "metric_name": self.metric_name,
            "value": self.value,
            "anomaly_score": self.anomaly_score,
            "threshold": self.threshold,
            "ts": _iso(_EPOCH + self.ts * _MS, "milliseconds"),
            "detected_at": _iso(self.detected_at, "auto"),
            "explanation": self.explanation,
        }

    @cached_property
    def text(self) -> str:
        """The JSON text, encoded once however many clients receive it."""
        return json.dumps(self.as_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnomalyEvent:
        """Read the JSON-ready form back; ValueError, KeyError or TypeError when malformed."""
        if data.get("type") != "anomaly":
            raise ValueError("not an anomaly message")
        explanation = data["explanation"]
        if explanation is not None and not isinstance(explanation, dict):
            raise TypeError("explanation must be an object")
        return cls(
            id=uuid.UUID(data["id"]),
            model_id=uuid.UUID(data["model_id"]),
            device_id=uuid.UUID(data["device_id"]),
            metric_name=str(data["metric_name"]),
            value=float(data["value"]),
            anomaly_score=float(data["anomaly_score"]),
            threshold=float(data["threshold"]),
            ts=(_parse_utc(data["ts"]) - _EPOCH) // _MS,
            detected_at=_parse_utc(data["detected_at"]),
            explanation=explanation,
            event_id=None if data.get("event_id") is None else uuid.UUID(data["event_id"]),
        )


def missed_notice(count: int) -> str:
    """The message telling a slow client how many anomalies it did not receive."""
    return json.dumps({"type": "missed", "count": count})


def _iso(moment: datetime, timespec: str) -> str:
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def _parse_utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return parsed.astimezone(UTC)


class StreamFilter(BaseModel):
    """Which anomalies a client wants: every one by default; each given field must match."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_id: uuid.UUID | None = None
    metric_name: SeriesKey | None = None
    min_score: Annotated[float | None, Field(ge=0, le=1, allow_inf_nan=False)] = None

    def matches(self, event: AnomalyEvent) -> bool:
        """True when the event passes every filter that was given."""
        return (
            (self.device_id is None or event.device_id == self.device_id)
            and (self.metric_name is None or event.metric_name == self.metric_name)
            and (self.min_score is None or event.anomaly_score >= self.min_score)
        )


def parse_filter(params: Mapping[str, str]) -> StreamFilter:
    """Filters from query parameters; InvalidInputError naming the first bad parameter."""
    try:
        return StreamFilter.model_validate(dict(params))
    except ValidationError as err:
        first = err.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "query"
        raise InvalidInputError(("query", field), first["msg"]) from err
