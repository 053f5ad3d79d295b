"""Domain exceptions. Only forewarn.api turns them into HTTP responses."""

from __future__ import annotations

from collections.abc import Sequence


class ForewarnError(Exception):
    """Base of every error Forewarn raises on purpose."""


class NotFoundError(ForewarnError):
    """A referenced object does not exist."""

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind = kind
        self.ident = ident


class InvalidInputError(ForewarnError):
    """Input that passed the schema but breaks a rule; names the offending field."""

    def __init__(self, loc: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.loc = tuple(loc)
        self.message = message

    def within(self, *prefix: str | int) -> InvalidInputError:
        """The same error located inside `prefix` (the edge says where the input came from)."""
        return InvalidInputError((*prefix, *self.loc), self.message)


class ConflictError(ForewarnError):
    """The request clashes with existing state (e.g. a duplicate email)."""


class AuthenticationError(ForewarnError):
    """Credentials or token are not acceptable."""


class PublishError(ForewarnError):
    """The device simulator cannot reach its broker or API."""


class EscalationError(ForewarnError):
    """An escalation channel could not deliver an event (after its retries)."""


class EscalationPausedError(EscalationError):
    """A channel is rate-limited for longer than a scan waits; it is skipped until later."""


class StorageUnavailableError(ForewarnError):
    """The database cannot be reached right now; the work is kept and retried."""
