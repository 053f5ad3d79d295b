"""The stream behind a real uvicorn server, with the `websockets` client a program would use."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import websockets

from forewarn.api.routes.ws import RedactQueryToken
from forewarn.runtime import Runtime
from forewarn.security.roles import Role
from tests.factories import API, FOREST, normal_readings, register_device, seed_user, trained_model
from tests.stream.helpers import HOT, token_of
from tests.support import served_app


@pytest.fixture
def server_url(runtime: Runtime) -> Iterator[str]:
    """The base URL of the app served by uvicorn in a thread (logging left to pytest)."""
    with served_app(runtime) as port:
        yield f"127.0.0.1:{port}/api/v1"


def _train(base: str, headers: dict[str, str]) -> str:
    """A device with a trained model, made over real HTTP (`base` ends in the API prefix)."""
    with httpx.Client(base_url=f"http://{base.removesuffix(API)}") as http:
        device = register_device(http, headers)
        trained_model(http, headers, device, normal_readings(200), **FOREST)
    return device


async def _close_of(url: str, **options: object) -> tuple[int, str]:
    async with websockets.connect(url, **options) as ws:  # type: ignore[arg-type]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


@pytest.mark.slow
def test_over_a_real_server(
    server_url: str, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    admin = seed_user(runtime, Role.ADMIN).headers
    token = token_of(admin)
    device = _train(server_url, admin)
    stream = f"ws://{server_url}/ws/anomalies"

    async def scenario() -> dict[str, object]:
        assert await _close_of(f"{stream}?token=bad") == (1008, "invalid token")
        bad_filter = await _close_of(f"{stream}?min_score=7", additional_headers=admin)
        assert bad_filter[0] == 1008 and bad_filter[1].startswith("min_score: ")
        async with websockets.connect(f"{stream}?token={token}&device_id={device}") as ws:
            assert json.loads(await ws.recv())["type"] == "subscribed"
            body = {"device_id": device, "metric_name": "temperature", "value": HOT}
            async with httpx.AsyncClient(headers=admin) as http:
                verdict = (await http.post(f"http://{server_url}/ml/predict", json=body)).json()
            assert verdict["is_anomaly"]
            message: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return message

    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        message = asyncio.run(scenario())
    assert message["type"] == "anomaly" and message["device_id"] == device
    assert "token=***" in caplog.text and token not in caplog.text


def test_the_log_filter_hides_query_tokens() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/api/v1/ws/anomalies?device_id=7&token=abc.def-ghi&min_score=0.5"),
        None,
    )  # fmt: skip
    assert RedactQueryToken().filter(record)
    assert record.getMessage() == (
        '127.0.0.1:5000 - "WebSocket /api/v1/ws/anomalies?device_id=7&token=***&min_score=0.5"'
        " [accepted]"
    )
