"""The log as an escalation channel: a warning when a finding opens, a note when it clears."""

from __future__ import annotations

import logging

from forewarn.escalation.base import Event, EventKind

_LOGGER = logging.getLogger("forewarn.health")


class LogChannel:
    """Writes one line per event to the `forewarn.health` logger; never fails."""

    name = "log"

    def deliver(self, event: Event) -> str | None:
        """Log the event."""
        if event.kind is EventKind.OPENED:
            _LOGGER.warning(
                "health finding opened: %s [%s %s]", event.title, event.check, event.fingerprint
            )
        else:
            _LOGGER.info(
                "health finding resolved: %s [%s %s]", event.title, event.check, event.fingerprint
            )
        return None
