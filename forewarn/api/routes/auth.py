"""Login: credentials in, bearer token out."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request

from forewarn.api.deps import (
    PROTECTED_RESPONSES,
    CurrentUser,
    RuntimeDep,
    SessionDep,
    client_address,
    enforce,
    unauthorized,
)
from forewarn.errors import NotFoundError
from forewarn.schemas.auth import LoginRequest, TokenResponse, UserPublic
from forewarn.security.roles import Role
from forewarn.security.tokens import issue_token
from forewarn.services.users import authenticate, get_user

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=TokenResponse,
    summary="Log in",
    responses={
        401: {"description": "Wrong email or password"},
        429: {"description": "Too many attempts"},
    },
)
def login(
    body: LoginRequest, request: Request, runtime: RuntimeDep, session: SessionDep
) -> TokenResponse:
    """Exchange email and password for a bearer token."""
    # Two keys: one address guessing many accounts, many addresses guessing one account.
    enforce(runtime.limits.login, f"ip:{client_address(request)}")
    enforce(runtime.limits.login, f"email:{body.email}")
    user = authenticate(session, body.email, body.password)
    ttl = timedelta(minutes=runtime.settings.access_token_expire_minutes)
    token = issue_token(runtime.secret, user.id, Role(user.role), ttl)
    return TokenResponse(access_token=token, expires_in=int(ttl.total_seconds()))


@router.get("/me", response_model=UserPublic, summary="Who am I", responses=PROTECTED_RESPONSES)
def me(user: CurrentUser, session: SessionDep) -> UserPublic:
    """The user the token belongs to."""
    try:
        return UserPublic.model_validate(get_user(session, user.id))
    except NotFoundError as err:  # deleted after its entry was cached
        raise unauthorized("user is unknown or disabled") from err
