"""What a rule observes (a reading, a model's verdict, or a timer tick) and what it carries
from one observation to the next (`RuleState`, plain data that round-trips through JSON).

>>> state = RuleState(raised=True, severity="MINOR", samples=((0, 1.5),))
>>> RuleState.from_json(state.to_json()) == state
True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from forewarn.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of the rule's metric at `ts_ms`."""

    ts_ms: int
    value: float


@dataclass(frozen=True, slots=True)
class MlVerdict:
    """A model's decision on one reading (see `detection.events`), with its threshold."""

    ts_ms: int
    score: float
    threshold: float
    anomalous: bool
    is_anomaly: bool = False
    event_id: str | None = None


Observation = Reading | MlVerdict | None  # None: a timer tick, nothing observed


# The JSON types of RuleState's scalar fields (bool is not accepted where an int is meant).
SCALARS: dict[str, type | tuple[type, ...]] = {
    "raised": bool, "severity": (str, type(None)), "breached": bool,
    "pending_ms": (int, type(None)), "calm_ms": (int, type(None)),
    "last_seen_ms": (int, type(None)), "event_id": (str, type(None)),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RuleState:
    """One rule on one series between observations; every field is JSON-friendly."""

    raised: bool = False
    severity: str | None = None  # the raised alarm's severity, by name
    breached: bool = False  # the condition held at the last observation
    pending_ms: int | None = None  # the condition has held since (not raised yet)
    calm_ms: int | None = None  # the release condition has held since (raised)
    last_seen_ms: int | None = None  # the series' latest reading (no-data rules)
    samples: tuple[tuple[int, float], ...] = ()  # (ts_ms, value) in the window (rate rules)
    events: tuple[int, ...] = ()  # starts of anomaly events in the window (event-count rules)
    event_id: str | None = None  # the latest event seen (ML rules)

    def to_json(self) -> str:
        """The state as a JSON object (to store beside the alarm)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RuleState:
        """The state `to_json` wrote; a malformed one is refused, naming the field."""
        try:
            data: dict[str, Any] = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidInputError(("state",), f"not JSON: {err}") from err
        if not isinstance(data, dict):
            raise InvalidInputError(("state",), "must be a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInputError(("state", sorted(unknown)[0]), "unknown field")
        samples, events = _samples(data.pop("samples", ())), _events(data.pop("events", ()))
        for name, value in data.items():
            wrong = isinstance(value, bool) and SCALARS[name] is not bool
            if wrong or not isinstance(value, SCALARS[name]):
                raise InvalidInputError(("state", name), f"wrong type {type(value).__name__}")
        return cls(**data, samples=samples, events=events)


def _samples(raw: Any) -> tuple[tuple[int, float], ...]:
    """The rate window's (ts_ms, value) pairs from their JSON lists."""
    try:
        return tuple((int(t), float(v)) for t, v in raw)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(("state", "samples"), f"malformed: {err}") from err


def _events(raw: Any) -> tuple[int, ...]:
    """The event window's start times from their JSON list."""
    try:
        return tuple(int(t) for t in raw)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(("state", "events"), f"malformed: {err}") from err
