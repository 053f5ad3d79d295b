"""The moving parts of the MQTT benchmark: a private Mosquitto, `forewarn ingest` processes,
and what /proc says about them (CPU seconds, resident memory).

Everything runs on this machine; the broker gets its own port so that other users of the
shared Mosquitto neither see the benchmark's flood nor disturb its figures.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from _server import _forewarn_command, _free_port

MOSQUITTO = "/usr/sbin/mosquitto"
_READY_TIMEOUT_S = 30.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def private_broker(work: Path) -> Iterator[tuple[str, int]]:
    """Mosquitto on a free loopback port, no persistence, deep queues; yields (url, pid)."""
    port = _free_port()
    conf = work / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        # A saturated subscriber must build a backlog, not lose messages (default: 1000).
        "max_queued_messages 10000000\nmax_queued_bytes 0\nlog_dest none\n",
        encoding="utf-8",
    )
    process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL)
    try:
        _wait_port(port, process)
        yield f"mqtt://127.0.0.1:{port}", process.pid
    finally:
        stop(process)


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"mosquitto not listening on {port}")


def stop(process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """SIGTERM (ingest commits what it holds), then SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class IngestProcess:
    """One `forewarn ingest` subprocess, its log file and its name."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """Its process id."""
        return self.process.pid

    def wait_subscribed(self) -> None:
        """Until its log says it is connected (then the subscription is a round trip away)."""
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
            if "connected to" in self.log.read_text(errors="replace"):
                time.sleep(0.5)  # SUBACK
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not connect:\n{self.tail()}")

    def stop(self) -> str:
        """Stop it cleanly; returns its log (the summary table is at the end)."""
        stop(self.process)
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 30) -> str:
        """The end of its log."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start_ingest(work: Path, env: dict[str, str], name: str, group: str = "") -> IngestProcess:
    """`forewarn ingest` with its own client id (and a shared-subscription group if given)."""
    env = {**env, "FOREWARN_MQTT_CLIENT_ID": f"bench-{name}-{os.getpid()}",
           "FOREWARN_MQTT_SHARED_GROUP": group, "COLUMNS": "120"}  # fmt: skip
    log = work / f"ingest-{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_forewarn_command(), "ingest"], env=env, cwd=work, stdout=out, stderr=out
        )
    return IngestProcess(name, process, log)


def summary_count(log: str, counter: str) -> int | None:
    """A counter from the table `forewarn ingest` prints when it stops."""
    found = re.findall(rf"{counter}\s*[│|]\s*([\d,]+)", log)
    return int(found[-1].replace(",", "")) if found else None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (0 if it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (not idle, not waiting for I/O)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _CLK_TCK


class CpuMeter:
    """CPU used by named groups of processes between `start` and `stop`."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self._begin: dict[str, float] = {}
        self._t0 = self._busy0 = 0.0
        self.shares: dict[str, float] = {}  # of one core, in per cent

    def start(self) -> None:
        """Take the first reading."""
        self._begin = {name: self._sum(pids) for name, pids in self.groups.items()}
        self._t0, self._busy0 = time.monotonic(), machine_busy_seconds()

    def stop(self) -> dict[str, float]:
        """Per-cent of one core per group, plus `machine` (all cores) and `other`."""
        seconds = time.monotonic() - self._t0
        used = {n: self._sum(p) - self._begin[n] for n, p in self.groups.items()}
        machine = machine_busy_seconds() - self._busy0
        self.shares = {n: 100 * s / seconds for n, s in used.items()}
        self.shares["other processes"] = 100 * (machine - sum(used.values())) / seconds
        self.shares["machine"] = 100 * machine / seconds
        return self.shares

    @staticmethod
    def _sum(pids: list[int]) -> float:
        return sum(cpu_seconds(pid) for pid in pids)
