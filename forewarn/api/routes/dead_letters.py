"""MQTT messages that could not be stored, filtered and paginated (everyone)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from forewarn.api.deps import AnyUser, SessionDep
from forewarn.api.routes.telemetry import QueryTime
from forewarn.errors import InvalidInputError
from forewarn.schemas.ingest import DeadLetterPage, DeadLetterPublic
from forewarn.telemetry.dead_letters import KINDS, DeadLetterFilter, list_dead_letters

router = APIRouter(prefix="/ingest/dead-letters", tags=["ingest"], dependencies=[AnyUser])


@router.get("", response_model=DeadLetterPage, summary="List dead letters")
def dead_letters(
    session: SessionDep,
    kind: Annotated[str | None, Query(description=f"One of: {', '.join(sorted(KINDS))}")] = None,
    since: Annotated[QueryTime, Query(description="Received at or after (epoch ms / ISO)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DeadLetterPage:
    """Refused ingest messages, newest first, with the total count matching the filters."""
    if kind is not None and kind not in KINDS:
        raise InvalidInputError(
            ("query", "kind"), f"kind must be one of {', '.join(sorted(KINDS))}"
        )
    rows, total = list_dead_letters(session, DeadLetterFilter(kind, since), limit, offset)
    data = [
        DeadLetterPublic(
            id=row.id,
            kind=row.kind,
            topic=row.topic,
            payload_excerpt=row.payload_excerpt,
            reason=row.reason,
            received_at=row.received_at,
        )
        for row in rows
    ]
    return DeadLetterPage(data=data, count=total, limit=limit, offset=offset)
