"""User management (admin only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from forewarn.api.deps import Admin, RuntimeDep, SessionDep
from forewarn.api.errors import in_body
from forewarn.schemas.auth import UserCreate, UserPublic, UserUpdate
from forewarn.schemas.common import Page
from forewarn.services import users

router = APIRouter(prefix="/users", tags=["users"], dependencies=[Admin])


@router.get("", response_model=Page[UserPublic], summary="List users")
def list_users(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[UserPublic]:
    """All users, oldest first."""
    rows, total = users.list_users(session, limit, offset)
    return Page(data=[UserPublic.model_validate(r) for r in rows], count=total)


@router.post(
    "", response_model=UserPublic, status_code=status.HTTP_201_CREATED, summary="Create a user"
)
def create_user(body: UserCreate, session: SessionDep) -> UserPublic:
    """Add a user with a role."""
    with in_body():
        created = users.create_user(session, body)
    return UserPublic.model_validate(created)


@router.get("/{user_id}", response_model=UserPublic, summary="Get a user")
def get_user(user_id: uuid.UUID, session: SessionDep) -> UserPublic:
    """One user."""
    return UserPublic.model_validate(users.get_user(session, user_id))


@router.patch("/{user_id}", response_model=UserPublic, summary="Update a user")
def update_user(
    user_id: uuid.UUID, body: UserUpdate, session: SessionDep, runtime: RuntimeDep
) -> UserPublic:
    """Change role, activity or password (applies to the user's next request)."""
    with in_body():
        updated = users.update_user(session, user_id, body)
    runtime.principals.forget(user_id)
    return UserPublic.model_validate(updated)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a user")
def delete_user(user_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep) -> None:
    """Remove a user (their tokens stop working at once)."""
    users.delete_user(session, user_id)
    runtime.principals.forget(user_id)
