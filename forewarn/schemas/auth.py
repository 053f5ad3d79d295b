"""Login and user schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from forewarn.security.roles import Role

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$"
    ),
]
Password = Annotated[str, Field(min_length=1, max_length=1024)]


class LoginRequest(BaseModel):
    """Credentials for POST /api/v1/auth/login."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "admin@example.com", "password": "s3cret-pass"}]}
    )

    email: Email
    password: Password


class TokenResponse(BaseModel):
    """A bearer token and its lifetime in seconds."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIs...",
                    "token_type": "bearer",
                    "expires_in": 3600,
                }
            ]
        }
    )

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class UserBase(BaseModel):
    """Fields every user has."""

    email: Email
    role: Role = Role.VIEWER


class UserCreate(UserBase):
    """A new user; the password must be at least 12 characters."""

    password: Annotated[str, Field(min_length=12, max_length=1024)]


class UserUpdate(BaseModel):
    """Changes to a user; omitted fields stay as they are."""

    role: Role | None = None
    is_active: bool | None = None
    password: Annotated[str | None, Field(min_length=12, max_length=1024)] = None


class UserPublic(UserBase):
    """A user as the API shows it (never the hash)."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0d6f5b8e-1c2a-4f3b-9e7d-5a4c3b2a1f0e",
                    "email": "operator@example.com",
                    "role": "operator",
                    "is_active": True,
                    "created_at": "2026-11-26T08:00:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    is_active: bool
    created_at: datetime
