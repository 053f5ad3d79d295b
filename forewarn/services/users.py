"""Users: create, authenticate, manage."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forewarn.db.models import User
from forewarn.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError
from forewarn.schemas.auth import UserCreate, UserUpdate
from forewarn.security.passwords import hash_password, password_problem, verify_password
from forewarn.security.roles import Role


def create_user(session: Session, data: UserCreate) -> User:
    """Add a user with a hashed password."""
    problem = password_problem(data.password)
    if problem:
        raise InvalidInputError(("password",), problem)
    if session.scalar(select(User.id).where(User.email == data.email)) is not None:
        raise ConflictError(f"a user with email {data.email} already exists")
    user = User(email=data.email, role=data.role.value, password_hash=hash_password(data.password))
    session.add(user)
    session.commit()
    return user


def authenticate(session: Session, email: str, password: str) -> User:
    """The active user with these credentials, or AuthenticationError."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if not verify_password(user.password_hash if user else None, password):
        raise AuthenticationError("incorrect email or password")
    assert user is not None  # verify_password is False for a missing user
    if not user.is_active:
        raise AuthenticationError("incorrect email or password")
    return user


def get_user(session: Session, user_id: uuid.UUID) -> User:
    """One user by id."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("user", user_id)
    return user


def list_users(session: Session, limit: int, offset: int) -> tuple[list[User], int]:
    """A page of users and the total."""
    total = session.scalar(select(func.count()).select_from(User)) or 0
    rows = session.scalars(select(User).order_by(User.created_at).limit(limit).offset(offset))
    return list(rows), total


def update_user(session: Session, user_id: uuid.UUID, data: UserUpdate) -> User:
    """Change role, activity or password."""
    user = get_user(session, user_id)
    keeps_admin = (data.role in (None, Role.ADMIN)) and data.is_active is not False
    if not keeps_admin:
        _keep_one_admin(session, user)
    if data.role is not None:
        user.role = data.role.value
    if data.is_active is not None:
        user.is_active = data.is_active
    if data.password is not None:
        problem = password_problem(data.password)
        if problem:
            raise InvalidInputError(("password",), problem)
        user.password_hash = hash_password(data.password)
    session.commit()
    return user


def delete_user(session: Session, user_id: uuid.UUID) -> None:
    """Remove a user."""
    user = get_user(session, user_id)
    _keep_one_admin(session, user)
    session.delete(user)
    session.commit()


def _keep_one_admin(session: Session, user: User) -> None:
    """Refuse to remove the last active admin: nobody could manage users afterwards."""
    if user.role != Role.ADMIN.value or not user.is_active:
        return
    admins = session.scalar(
        select(func.count()).where(User.role == Role.ADMIN.value, User.is_active.is_(True))
    )
    if (admins or 0) <= 1:
        raise ConflictError("this is the last active admin; create another admin first")
