"""JWT access tokens (HS256, signed with the installation secret)."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from forewarn.security.roles import Role

_ALGORITHM = "HS256"
_AUDIENCE = "forewarn-api"


class TokenError(Exception):
    """The token is missing, expired, malformed or not ours."""


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    user_id: uuid.UUID
    role: Role
    expires_at: datetime


def issue_token(
    secret: str, user_id: uuid.UUID, role: Role, ttl: timedelta, now: datetime | None = None
) -> str:
    """Sign a token for this user."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": role.value,
        "aud": _AUDIENCE,
        "iat": issued,
        "exp": issued + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_token(secret: str, token: str) -> TokenClaims:
    """Verify signature, audience and expiry; raise TokenError otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["exp", "sub", "role"]},
        )
        return TokenClaims(
            user_id=uuid.UUID(claims["sub"]),
            role=Role(claims["role"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    except jwt.ExpiredSignatureError as err:
        raise TokenError("token expired") from err
    except (jwt.InvalidTokenError, ValueError, KeyError) as err:
        raise TokenError("invalid token") from err


class TokenVerifier:
    """verify_token with a memory of tokens already verified (until they expire).

    A client sends the same token with every request; checking its HMAC and parsing its
    claims each time is pure repetition. A remembered token is still refused once expired.
    """

    def __init__(
        self,
        secret: str,
        max_tokens: int = 4096,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._secret = secret
        self._max = max_tokens
        self._clock = clock
        self._known: OrderedDict[str, TokenClaims] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str) -> TokenClaims:
        """The token's claims; TokenError when invalid or expired."""
        claims = self._known.get(token)
        if claims is None:
            claims = verify_token(self._secret, token)
            with self._lock:
                self._known[token] = claims
                if len(self._known) > self._max:
                    self._known.popitem(last=False)
        if claims.expires_at <= self._clock():
            raise TokenError("token expired")
        return claims
