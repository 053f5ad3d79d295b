"""`forewarn serve` starts on a bare data directory, migrates, and answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import free_port

pytestmark = pytest.mark.slow

FOREWARN = Path(sys.executable).with_name("forewarn")


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            return httpx.get(f"{url}/api/v1/health", timeout=1)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not become healthy in 30 s")


def test_serve_on_empty_data_dir(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    env["FOREWARN_DATA_DIR"] = str(tmp_path / "data")
    port = free_port()
    process = subprocess.Popen(
        [str(FOREWARN), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        health = _wait_healthy(url, process)
        assert health.json()["database"] == "ok"
        assert httpx.get(f"{url}/docs").status_code == 200
        assert httpx.get(f"{url}/api/v1/devices").status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=15)
    secret = tmp_path / "data" / "secret.key"
    assert (tmp_path / "data" / "forewarn.db").is_file()
    assert secret.stat().st_mode & 0o777 == 0o600
