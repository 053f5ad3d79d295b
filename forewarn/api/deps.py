"""Per-request dependencies: runtime, session, current user, roles, rate limits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from forewarn.runtime import Runtime
from forewarn.security.principals import Principal
from forewarn.security.ratelimit import RateLimiter, Verdict
from forewarn.security.roles import Role
from forewarn.security.tokens import TokenError

PROTECTED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Token missing, expired or invalid"},
    403: {"description": "The user's role does not allow this"},
    429: {"description": "Rate limit exceeded; see Retry-After"},
}

_bearer = HTTPBearer(auto_error=False, description="Token from POST /api/v1/auth/login")


async def get_runtime(request: Request) -> Runtime:
    """The process's runtime container."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[Session]:
    """One session per request, closed (and rolled back if unfinished) afterwards."""
    # Opening a session does no I/O, and closing one after a commit does none either, so
    # both stay on the event loop; only a rollback of unfinished work needs a thread.
    session = runtime.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def client_address(request: Request) -> str:
    """The peer address used for per-IP limits."""
    return request.client.host if request.client else "unknown"


def enforce(limiter: RateLimiter, key: str) -> None:
    """Raise 429 with Retry-After when `key` is over its limit."""
    _refuse_if_over(limiter.hit(key))


async def hit(limiter: RateLimiter, key: str) -> Verdict:
    """Count one request of `key`; a limiter that does I/O (Redis) runs off the event loop.

    In-memory counting stays on the loop: the common case skips a thread-pool hop.
    """
    return await run_in_threadpool(limiter.hit, key) if limiter.blocking else limiter.hit(key)


async def principal_of(runtime: Runtime, user_id: uuid.UUID) -> Principal | None:
    """The user's cached role and activity, read from the database (off the loop) on a miss."""
    found, principal = runtime.principals.cached(user_id)
    if found:
        return principal
    return await run_in_threadpool(runtime.principals.load, user_id)


def _refuse_if_over(verdict: Verdict) -> None:
    if not verdict.allowed:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="rate limit exceeded; retry later",
            headers={"Retry-After": str(verdict.retry_after_s)},
        )


async def limit_ip(request: Request, runtime: RuntimeDep) -> None:
    """Per-client-address limit, applied to every route."""
    _refuse_if_over(await hit(runtime.limits.ip, client_address(request)))


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def current_user(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The user behind the bearer token (401 if missing, expired, tampered or disabled)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("not authenticated: send Authorization: Bearer <token>")
    try:
        claims = runtime.tokens.verify(credentials.credentials)
    except TokenError as err:
        raise unauthorized(str(err)) from err
    _refuse_if_over(await hit(runtime.limits.user, str(claims.user_id)))
    principal = await principal_of(runtime, claims.user_id)
    if principal is None or not principal.is_active:
        raise unauthorized("user is unknown or disabled")
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def require_role(role: Role) -> Any:
    """A route dependency that lets through users whose role is at least `role`."""

    async def check(user: CurrentUser) -> Principal:
        if not user.role.allows(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=f"this action needs the {role.value} role"
            )
        return user

    return Depends(check)


AnyUser = require_role(Role.VIEWER)
Operator = require_role(Role.OPERATOR)
Admin = require_role(Role.ADMIN)
