"""Support for tests that need the outside world: real services, ports, servers, waiting."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import text

from forewarn.api.app import create_app
from forewarn.db.engine import make_engine
from forewarn.db.models import Base
from forewarn.runtime import Runtime

REQUIRE_SERVICES = os.environ.get("FOREWARN_TEST_REQUIRE_SERVICES") == "1"
# Every table, children first: emptied before each PostgreSQL test.
TABLES = ", ".join(table.name for table in reversed(Base.metadata.sorted_tables))


def service_url(variable: str) -> str:
    """The URL of a real service for a test, or skip (fail under REQUIRE_SERVICES)."""
    url = os.environ.get(variable)
    if url:
        return url
    if REQUIRE_SERVICES:
        pytest.fail(f"{variable} is not set but FOREWARN_TEST_REQUIRE_SERVICES=1")
    pytest.skip(f"{variable} not set; this test needs a real service")


def empty_tables(database_url: str) -> None:
    """Delete every row of a migrated database (PostgreSQL: one TRUNCATE)."""
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} CASCADE"))
    engine.dispose()


@contextmanager
def empty_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty database on FOREWARN_TEST_DATABASE_URL's server, dropped afterwards."""
    admin = make_engine(service_url("FOREWARN_TEST_DATABASE_URL"))
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # a configured but unreachable server is a failure, not a skip
        pytest.fail(f"cannot use PostgreSQL at FOREWARN_TEST_DATABASE_URL: {err}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    """Poll `check` until it holds; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def served_app(runtime: Runtime) -> Iterator[int]:
    """The app on `runtime`, served by uvicorn in a thread on a free port (yielded); its
    logging is left to pytest."""
    port = free_port()
    config = uvicorn.Config(create_app(runtime, own_runtime=False), port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, "uvicorn to start")
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


# ---- private Redis and Mosquitto processes for fault-injection tests ------------------------


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
