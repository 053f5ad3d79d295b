"""Who a token's user is now: role and activity, read from the database and briefly cached.

Checking the users table on every request costs a database round trip and an ORM load on
the hot path (about a third of a millisecond). The cache keeps each user's role and
activity for `ttl_s` seconds; changes made through this process apply at once
(`forget`), changes made by another process within `ttl_s`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from forewarn.db.models import User
from forewarn.security.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user as the API sees it."""

    id: uuid.UUID
    role: Role
    is_active: bool


class PrincipalCache:
    """Looks users up by id, remembering each answer (also "unknown") for `ttl_s` seconds."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[uuid.UUID, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def cached(self, user_id: uuid.UUID) -> tuple[bool, Principal | None]:
        """(found, principal) without touching the database; found is False on a miss."""
        entry = self._entries.get(user_id)
        if entry is None or entry[0] < self._clock():
            return False, None
        return True, entry[1]

    def load(self, user_id: uuid.UUID) -> Principal | None:
        """Read the user from the database and remember the answer."""
        with self._sessions() as session:
            row = session.get(User, user_id)
            principal = None if row is None else Principal(row.id, Role(row.role), row.is_active)
        if self._ttl_s > 0:
            with self._lock:
                self._entries[user_id] = (self._clock() + self._ttl_s, principal)
        return principal

    def get(self, user_id: uuid.UUID) -> Principal | None:
        """The user, from the cache when fresh, else from the database."""
        found, principal = self.cached(user_id)
        return principal if found else self.load(user_id)

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop a user's entry (after a change to it)."""
        with self._lock:
            self._entries.pop(user_id, None)
