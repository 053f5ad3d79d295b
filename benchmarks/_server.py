"""Run `forewarn serve` as a real subprocess for end-to-end benchmarks, and report results.

The server gets its own temporary data directory, a random secret, rate limits high enough
not to interfere, and (for PostgreSQL) a throw-away database that is dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

API = "/api/v1"
EMAIL = "bench-admin@example.com"
_STARTUP_TIMEOUT_S = 60.0
_HIGH_LIMIT = "100000000"
JSON_HEADERS = {"Content-Type": "application/json"}  # for bodies encoded beforehand

# A result row: measure, figure, target, verdict ("PASS", "MISS" or "" when there is no target).
Row = tuple[str, str, str, str]


@dataclass(frozen=True)
class BenchServer:
    """A running server: where it listens, how to log in, and where it keeps its data."""

    base_url: str
    token: str
    secret: str
    data_dir: Path
    database_url: str | None  # plain postgresql:// URL of the throw-away database, if any

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header of the benchmark admin."""
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, timeout_s: float = 120.0) -> httpx.Client:
        """A keep-alive client authenticated as the benchmark admin."""
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=timeout_s)

    def create_device(self, client: httpx.Client, name: str) -> str:
        """Register a device; returns its id."""
        response = client.post(f"{API}/devices", json={"name": name, "type": "benchmark"})
        response.raise_for_status()
        device_id: str = response.json()["id"]
        return device_id


@contextlib.contextmanager
def running_server(database_url: str | None = None) -> Iterator[BenchServer]:
    """Start a server (SQLite when database_url is None), yield it, then tear all down."""
    with tempfile.TemporaryDirectory(prefix="forewarn-bench-") as folder:
        work = Path(folder)
        with _throwaway_database(database_url) as db_url:
            secret = secrets.token_urlsafe(48)
            env = _server_env(work / "data", secret, db_url)
            port = _free_port()
            base_url = f"http://127.0.0.1:{port}"
            with _serve(env, work, port) as process:
                _wait_healthy(base_url, process, work / "server.log")
                password = secrets.token_urlsafe(18)
                _create_admin(env, work, password)
                token = _login(base_url, password)
                yield BenchServer(base_url, token, secret, work / "data", _plain_url(db_url))


def is_postgres_url(url: str) -> bool:
    """Whether a URL points at PostgreSQL (the only server database the benchmarks create)."""
    try:
        return make_url(url).get_backend_name().startswith("postgres")
    except ArgumentError:
        return False


def _server_env(data_dir: Path, secret: str, database_url: str | None) -> dict[str, str]:
    """The inherited environment minus other FOREWARN_* settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    env.update(
        FOREWARN_DATA_DIR=str(data_dir),
        FOREWARN_SECRET_KEY=secret,
        FOREWARN_RATE_LIMIT_USER_PER_MINUTE=_HIGH_LIMIT,
        FOREWARN_RATE_LIMIT_IP_PER_MINUTE=_HIGH_LIMIT,
        FOREWARN_RATE_LIMIT_LOGIN_PER_MINUTE="1000",
    )
    if database_url is not None:
        env["FOREWARN_DATABASE_URL"] = database_url
    return env


@contextlib.contextmanager
def _throwaway_database(url: str | None) -> Iterator[str | None]:
    """For a PostgreSQL URL: a fresh `forewarn_bench_<random>` database on that server."""
    if url is None:
        yield None
        return
    if not is_postgres_url(url):
        raise ValueError(f"not a PostgreSQL URL: {url!r} (SQLite is the default)")
    admin = _plain_url(url)
    assert admin is not None
    name = f"forewarn_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # name is ours: [a-z0-9_] only
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _plain_url(url: str | None) -> str | None:
    """A libpq-style postgresql:// URL (no SQLAlchemy driver suffix), or None for SQLite."""
    if url is None or not is_postgres_url(url):
        return None
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _forewarn_command() -> str:
    """The `forewarn` script next to this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "forewarn"
    found = str(beside) if beside.exists() else shutil.which("forewarn")
    if found is None:
        raise RuntimeError("the `forewarn` command is not installed in this environment")
    return found


@contextlib.contextmanager
def _serve(env: dict[str, str], work: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [_forewarn_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    # A file, not a pipe: uvicorn logs every request and a full pipe would stall the server.
    with (work / "server.log").open("wb") as log:
        # cwd is the temp dir so that no stray .env file is picked up.
        process = subprocess.Popen(command, env=env, cwd=work, stdout=log, stderr=log)
        try:
            yield process
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn shuts down gracefully), then SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}{API}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {_STARTUP_TIMEOUT_S:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _create_admin(env: dict[str, str], work: Path, password: str) -> None:
    command = [_forewarn_command(), "user", "create", "--email", EMAIL, "--role", "admin"]
    done = subprocess.run(
        command, env=env, cwd=work, input=f"{password}\n", capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"`forewarn user create` failed:\n{done.stdout}{done.stderr}")


def _login(base_url: str, password: str) -> str:
    response = httpx.post(
        f"{base_url}{API}/auth/login", json={"email": EMAIL, "password": password}, timeout=30
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, by the nearest-rank method."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 1)))  # ceil(q * n), at least 1
    return sorted_values[min(rank, len(sorted_values)) - 1]


def print_report(title: str, rows: list[Row], notes: list[str]) -> None:
    """A table of figures against targets, then the notes on how they were measured."""
    table = Table(title=title, title_justify="left")
    table.add_column("measure")
    table.add_column("result", justify="right")
    table.add_column("target", justify="right")
    table.add_column("verdict")
    for measure, result, target, mark in rows:
        style = {"PASS": "green", "MISS": "bold red"}.get(mark, "")
        table.add_row(measure, result, target, f"[{style}]{mark}[/]" if style else mark)
    console = Console(width=max(120, shutil.get_terminal_size().columns))
    console.print(table)
    for note in [*notes, _machine_note()]:
        console.print(f"  - {note}", highlight=False)


def _machine_note() -> str:
    """Cores and load: other processes on the machine skew every figure above."""
    one, five, fifteen = os.getloadavg()
    return (
        f"machine: {os.cpu_count()} cores; load average now {one:.2f} / {five:.2f} / "
        f"{fifteen:.2f} (1 / 5 / 15 min), this benchmark included"
    )


def describe_backend(server: BenchServer) -> str:
    """A short backend label for titles."""
    return "PostgreSQL" if server.database_url else "SQLite (embedded)"
