"""Fault injection for the ingest tests: a private Mosquitto to restart, a TCP proxy to cut."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.support import REQUIRE_SERVICES, free_port, service_url, wait_until


class Broker:
    """A Mosquitto process of the test's own: loopback only, persistent, restartable."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
        if binary is None:
            if REQUIRE_SERVICES:
                pytest.fail("mosquitto is not installed but FOREWARN_TEST_REQUIRE_SERVICES=1")
            pytest.skip("mosquitto is not installed")
        self.binary = binary
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config = workdir / "mosquitto.conf"
        # Unlimited queue: while a consumer is away the broker must keep every message
        # (the default, 1000 per client, drops the rest while still acking publishers).
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "user root\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            "max_queued_messages 0\n"
            f"log_dest file {workdir}/mosquitto.log\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)])
        wait_until(self._listening, 10, "mosquitto to listen")

    def stop(self) -> None:
        """SIGTERM: Mosquitto saves its sessions and queued messages, then exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        """Stop, then start on the same port with the same persistence file."""
        self.stop()
        self.start()

    def _listening(self) -> bool:
        assert self.process is not None and self.process.poll() is None, "mosquitto exited"
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
        except OSError:
            return False
        return True


def own_broker(tmp_path: Path) -> Broker:
    """A started private broker (the shared one on 1883 must never be restarted by a test)."""
    service_url("FOREWARN_TEST_MQTT_URL")  # the same gate as every broker test
    broker = Broker(tmp_path)
    broker.start()
    return broker


class TcpProxy:
    """Forwards loopback connections to a server; `cut` drops them all and refuses new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Close every forwarded connection; new ones are closed as soon as accepted."""
        with self._lock:
            self._cut = True
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def restore(self) -> None:
        """Forward new connections again."""
        with self._lock:
            self._cut = False

    def close(self) -> None:
        """Stop listening and drop everything."""
        self.cut()
        _close(self._listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._cut:
                    _close(client)
                    continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
