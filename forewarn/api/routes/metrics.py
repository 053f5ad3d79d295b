"""Prometheus metrics at /metrics (text exposition format 0.0.4).

Never open: the scraper sends `Authorization: Bearer <FOREWARN_METRICS_TOKEN>` (a static
token, as Prometheus' `authorization` block sends it), or any signed-in user's token works.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import func, select

from forewarn.api.deps import RuntimeDep, SessionDep, current_user
from forewarn.db.models import MLModel

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

router = APIRouter()


async def scraper(runtime: RuntimeDep, credentials: Credentials) -> None:
    """Let through the metrics token, else require a valid user token (401 otherwise)."""
    token = runtime.settings.metrics_token
    if token is not None and credentials is not None:
        sent = credentials.credentials.encode()
        if hmac.compare_digest(sent, token.get_secret_value().encode()):
            return
    await current_user(runtime, credentials)


@router.get(
    "/metrics",
    response_model=None,
    response_class=Response,
    dependencies=[Depends(scraper)],
    include_in_schema=False,
)
def metrics(session: SessionDep, runtime: RuntimeDep) -> Response:
    """Every Prometheus metric of this process; active models are counted at scrape time."""
    active = session.scalar(
        select(func.count()).select_from(MLModel).where(MLModel.is_active.is_(True))
    )
    runtime.metrics.active_models.set(active or 0)
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)
