"""Helpers of the live-stream tests: WebSocket URLs, receiving with a deadline, hot readings."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from tests.api.helpers import predict
from tests.factories import JSON

WS = "/api/v1/ws/anomalies"
HOT = 45.0
NORMAL = 25.1


def ws_url(token: str | None = None, **filters: Any) -> str:
    """The stream URL with a token and filters as query parameters."""
    params = {**({"token": token} if token is not None else {}), **filters}
    return f"{WS}?{urlencode(params)}" if params else WS


def token_of(headers: dict[str, str]) -> str:
    """The bearer token inside Authorization headers."""
    return headers["Authorization"].removeprefix("Bearer ")


def receive(ws: WebSocketTestSession, timeout: float = 10.0) -> JSON:
    """The next JSON message, or fail after `timeout` seconds instead of hanging."""
    pool = ThreadPoolExecutor(1)
    try:
        message: JSON = pool.submit(ws.receive_json).result(timeout)
        return message
    except TimeoutError:
        pytest.fail(f"no WebSocket message within {timeout} s")
    finally:
        pool.shutdown(wait=False)


def confirmed(ws: WebSocketTestSession) -> JSON:
    """Read the subscription confirmation and return its filters."""
    message = receive(ws)
    assert message["type"] == "subscribed", message
    filters: JSON = message["filters"]
    return filters


def close_of(ws: WebSocketTestSession) -> WebSocketDisconnect:
    """The close the server answered with (fails if it sent a message instead)."""
    with pytest.raises(WebSocketDisconnect) as info:
        receive(ws)
    return info.value


def hot(
    client: TestClient,
    headers: dict[str, str],
    device: str,
    metric: str = "temperature",
    value: float = HOT,
) -> JSON:
    """Predict a clearly anomalous value and return the verdict (checked to open an event:
    a later one on the same series must leave the excursion's range, e.g. hotter still)."""
    response = predict(client, headers, device, value, metric)
    assert response.status_code == 200, response.text
    verdict: JSON = response.json()
    assert verdict["is_anomaly"] is True, verdict
    return verdict
