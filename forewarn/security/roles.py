"""Roles form a ladder: each one can do everything the one below it can."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user may do: viewer reads, operator also acts, admin also manages."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position on the ladder."""
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """True when this role may do what `needed` may."""
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
