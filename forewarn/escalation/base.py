"""The escalation contract: an event about a finding, and a channel that delivers it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

MARKER = "forewarn-fingerprint"


class EventKind(StrEnum):
    """What happened to a finding."""

    OPENED = "opened"  # first seen, or seen again after it had cleared
    RESOLVED = "resolved"  # no longer seen by a scan


@dataclass(frozen=True)
class Event:
    """A finding that opened or resolved, as a channel sees it.

    `ref` is what this channel returned for the finding last time (e.g. a GitHub issue
    number), so a channel can close or reopen the same thing.
    """

    kind: EventKind
    fingerprint: str
    check: str
    subject: str
    title: str
    labels: tuple[str, ...]
    first_seen: datetime
    opened_at: datetime
    occurrences: int
    details: Mapping[str, Any] = field(default_factory=dict)
    resolved_at: datetime | None = None
    ref: str | None = None

    @property
    def marker(self) -> str:
        """The text that identifies the finding inside an issue body or a message."""
        return f"{MARKER}: {self.fingerprint}"

    def as_json(self) -> dict[str, Any]:
        """The event as a JSON object (what the webhook posts)."""
        return {
            "source": "forewarn",
            "event": self.kind.value,
            "fingerprint": self.fingerprint,
            "check": self.check,
            "subject": self.subject,
            "title": self.title,
            "labels": list(self.labels),
            "details": dict(self.details),
            "first_seen": self.first_seen.isoformat(),
            "opened_at": self.opened_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "occurrences": self.occurrences,
        }


class Channel(Protocol):
    """Somewhere findings are announced.

    `deliver` either succeeds and returns the channel's reference for the finding (or None),
    or raises `EscalationError` (`EscalationPausedError` to be skipped for the rest of a
    scan). It must be safe to call again for the same event after a failure.
    """

    @property
    def name(self) -> str:
        """The channel's key in the escalation state and the metrics."""
        ...

    def deliver(self, event: Event) -> str | None:
        """Announce the event; return the reference to keep for the finding."""
        ...
