"""Anomaly events for the stream tests, built the way scoring builds its rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from forewarn.stream.events import AnomalyEvent

T0 = 1_730_000_000_123  # epoch ms with a millisecond part, to catch rounding


def event(
    score: float = 0.8,
    *,
    device: uuid.UUID | None = None,
    metric: str = "temperature",
    ts: int = T0,
) -> AnomalyEvent:
    """An anomaly as `_store_anomalies` would insert it."""
    return AnomalyEvent.from_row(
        {
            "id": uuid.uuid4(),
            "model_id": uuid.uuid4(),
            "device_id": device or uuid.uuid4(),
            "metric_name": metric,
            "value": 45.0,
            "anomaly_score": score,
            "threshold": 0.6,
            "ts": ts,
            "detected_at": datetime(2024, 10, 27, 3, 33, 21, 456789, tzinfo=UTC),
            "explanation": {
                "summary": "temperature 45 is 40σ above 25",
                "metrics": ["temperature"],
            },
            "event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"event/{ts}"),
        }
    )
