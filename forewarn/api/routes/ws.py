"""WebSocket /api/v1/ws/anomalies: committed anomalies pushed live to any signed-in user.

A plain Starlette route on purpose: the app-wide HTTP dependencies (per-IP limit, bearer
scheme) take a `Request`, which a WebSocket is not, so the same checks are made here and
answered the WebSocket way, with close codes.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from forewarn.api.deps import hit, principal_of
from forewarn.errors import InvalidInputError
from forewarn.runtime import Runtime
from forewarn.security.ratelimit import RateLimiter
from forewarn.security.tokens import TokenError
from forewarn.stream.bus import Subscription
from forewarn.stream.events import StreamFilter, parse_filter

router = APIRouter(tags=["stream"])

POLICY_VIOLATION = status.WS_1008_POLICY_VIOLATION
TRY_AGAIN_LATER = status.WS_1013_TRY_AGAIN_LATER
_MAX_REASON_BYTES = 123  # what fits in a close frame
_QUERY_TOKEN = re.compile(r"(?<=[?&]token=)[^&\s\"]+")


class Refused(Exception):
    """The connection is closed with this code and reason instead of being served."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason.encode()[:_MAX_REASON_BYTES].decode(errors="ignore")


async def anomaly_stream(websocket: WebSocket) -> None:
    """Check the token and filters, confirm the subscription, then send matching anomalies."""
    runtime: Runtime = websocket.app.state.runtime
    await websocket.accept()
    try:
        expires_at = await _authenticate(websocket, runtime)
        flt = _filters(websocket)
    except Refused as refused:
        await websocket.close(refused.code, refused.reason)
        return
    subscription = runtime.anomalies.subscribe(flt)
    try:
        confirmation = {"type": "subscribed", "filters": flt.model_dump(mode="json")}
        await websocket.send_text(json.dumps(confirmation))
        if await _serve(websocket, subscription, expires_at):
            await websocket.close(POLICY_VIOLATION, "token expired")
    finally:
        runtime.anomalies.unsubscribe(subscription)


router.add_websocket_route("/ws/anomalies", anomaly_stream, name="anomaly_stream")


class RedactQueryToken(logging.Filter):
    """Hide `?token=…` in log lines: uvicorn logs each WebSocket's path with its query."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message and arguments; never drops a record."""
        if isinstance(record.msg, str):
            record.msg = _QUERY_TOKEN.sub("***", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                _QUERY_TOKEN.sub("***", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def redact_tokens_in_server_logs() -> None:
    """Install RedactQueryToken on uvicorn's logger (once)."""
    server_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, RedactQueryToken) for f in server_log.filters):
        server_log.addFilter(RedactQueryToken())


def bearer_token(websocket: WebSocket) -> str | None:
    """The token from `Authorization: Bearer …`, else from the `token` query parameter."""
    header = websocket.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        return (token.strip() or None) if scheme.lower() == "bearer" else None
    return websocket.query_params.get("token") or None


async def _authenticate(websocket: WebSocket, runtime: Runtime) -> datetime:
    """The token's expiry once the client and its user may listen; Refused otherwise."""
    client = websocket.client.host if websocket.client else "unknown"
    await _enforce(runtime.limits.ip, client)
    token = bearer_token(websocket)
    if token is None:
        raise Refused(POLICY_VIOLATION, "not authenticated: pass ?token= or Authorization: Bearer")
    try:
        claims = runtime.tokens.verify(token)
    except TokenError as err:
        raise Refused(POLICY_VIOLATION, str(err)) from err
    await _enforce(runtime.limits.user, str(claims.user_id))
    principal = await principal_of(runtime, claims.user_id)
    if principal is None or not principal.is_active:
        raise Refused(POLICY_VIOLATION, "user is unknown or disabled")
    return claims.expires_at  # every role may read the stream


async def _enforce(limiter: RateLimiter, key: str) -> None:
    verdict = await hit(limiter, key)
    if not verdict.allowed:
        raise Refused(TRY_AGAIN_LATER, f"rate limit exceeded; retry in {verdict.retry_after_s} s")


def _filters(websocket: WebSocket) -> StreamFilter:
    params = {k: v for k, v in websocket.query_params.items() if k != "token"}
    try:
        return parse_filter(params)
    except InvalidInputError as err:
        raise Refused(POLICY_VIOLATION, f"{err.loc[-1]}: {err.message}") from err


async def _serve(websocket: WebSocket, subscription: Subscription, expires_at: datetime) -> bool:
    """Send until the client leaves (False) or its token expires (True)."""
    remaining = max((expires_at - datetime.now(UTC)).total_seconds(), 0.0)
    async with anyio.create_task_group() as group:
        group.start_soon(_pump, websocket, subscription)
        left = await _until_left(websocket, remaining)
        group.cancel_scope.cancel()
    return not left


async def _pump(websocket: WebSocket, subscription: Subscription) -> None:
    try:
        while True:
            await websocket.send_text(await subscription.get())
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the client left while we were sending; _until_left sees it too


async def _until_left(websocket: WebSocket, seconds: float) -> bool:
    """True when the client disconnects within `seconds`, False when the time is up."""
    with anyio.move_on_after(seconds):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass  # clients have nothing to say; their messages are ignored
        return True
    return False
