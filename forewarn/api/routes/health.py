"""Liveness and database reachability (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from forewarn import __version__
from forewarn.api.deps import SessionDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Service status."""

    status: str
    version: str
    database: str


@router.get("/health", response_model=Health, summary="Service health")
def health(session: SessionDep) -> Health:
    """Report whether the API runs and reaches its database."""
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # reported, not raised: health must answer even when the DB is down
        database = "unreachable"
    return Health(
        status="ok" if database == "ok" else "degraded", version=__version__, database=database
    )
