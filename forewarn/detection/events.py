"""The decision layer (STYLE §8): from scored readings to events, the state an operator sees.

An event is one excursion. `EventTracker` says of each reading whether it opens a new event
to report (`is_anomaly`), whether it lies inside an excursion (`anomalous`, with hysteresis
so it does not flap) and which excursion that is (`event_start`, its first reading's time;
`event_id` turns it into a stable identifier).
"""

from __future__ import annotations

import uuid

EVENT_NAMESPACE = uuid.UUID("5b0c4a3e-2f1d-4c58-9a7e-3d6f0e8b1c27")


def event_id(scope: str, start_ms: int) -> str:
    """The stable identifier of the event of `scope` (a model and series) opened at
    `start_ms`: the same excursion gets the same id in every response, row and export."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{scope}/{start_ms}"))
