"""Private Redis and Mosquitto servers for fault-injection tests, and polling with a deadline."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import wait_until


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def server(command: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process until the block ends (stopped with SIGTERM)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _accepts(port), 10.0, f"{command[0]} listening on {port}")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def redis_command(port: int) -> list[str]:
    """A throw-away redis-server on `port` that keeps nothing on disk."""
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no"]  # fmt: skip


def mosquitto_command(port: int, folder: Path) -> list[str]:
    """A mosquitto on `port` that keeps sessions and queued messages across restarts."""
    config = folder / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        f"persistence true\npersistence_location {folder}/\n",
        encoding="utf-8",
    )
    return ["/usr/sbin/mosquitto", "-c", str(config)]
