"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from forewarn import __version__
from forewarn.api.deps import PROTECTED_RESPONSES, limit_ip
from forewarn.api.errors import install_error_handlers
from forewarn.api.limits import BodySizeLimit
from forewarn.api.routes import (
    algorithms,
    anomalies,
    auth,
    dead_letters,
    devices,
    evaluate,
    feedback,
    health,
    metrics,
    ml_health,
    ml_models,
    model_metrics,
    predict,
    retraining,
    telemetry,
    users,
    ws,
)
from forewarn.runtime import Runtime

API_PREFIX = "/api/v1"

_DESCRIPTION = """
Forewarn stores sensor telemetry, learns what normal looks like for every device and metric,
and scores new readings. Log in with `POST /api/v1/auth/login`, then press **Authorize** and
paste the `access_token`.

Roles: **viewer** reads; **operator** also ingests, trains and predicts; **admin** also
manages users and devices.
"""


def create_app(runtime: Runtime, *, own_runtime: bool = True) -> FastAPI:
    """Build the API around a runtime; with own_runtime the app closes it on shutdown."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            if own_runtime:
                runtime.close()
            else:
                runtime.usage.flush()

    app = FastAPI(
        title="Forewarn",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(limit_ip)],
    )
    app.state.runtime = runtime
    app.add_middleware(BodySizeLimit, max_bytes=runtime.settings.max_request_bytes)
    install_error_handlers(app)
    for router in (health.router, auth.router):
        app.include_router(router, prefix=API_PREFIX)
    for router in (
        users.router,
        devices.router,
        telemetry.router,
        algorithms.router,
        ml_models.router,
        predict.router,
        evaluate.router,
        anomalies.router,
        dead_letters.router,
        ml_health.router,
        feedback.router,
        model_metrics.router,
        retraining.router,
    ):
        app.include_router(router, prefix=API_PREFIX, responses=PROTECTED_RESPONSES)
    # A plain WebSocket route: it makes its own token and limit checks (see routes/ws.py).
    app.include_router(ws.router, prefix=API_PREFIX)
    ws.redact_tokens_in_server_logs()
    # Prometheus scrapes /metrics with its own token (see routes/metrics.py).
    app.include_router(metrics.router)
    return app
