"""Local stand-ins for services outside this machine: GitHub's issue API and a webhook.

Each is a real HTTP server on 127.0.0.1 in a thread. Faults are queued and consumed by the
next matching request: HTTP 500, 429 with Retry-After, 403 rate limits (primary with
X-RateLimit-* headers, secondary with Retry-After), and a timeout that happens *after*
the request was processed (the answer is lost, the side effect is not).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Reply = tuple[int, Any, dict[str, str]]
MARKER = re.compile(r"forewarn-fingerprint: (\w+)")


@dataclass
class FakeClock:
    """Epoch seconds that only move when someone sleeps: a controllable clock."""

    now: float = 1_800_000_000.0
    slept: list[float] = field(default_factory=list)

    def time(self) -> float:
        """The current fake time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the wait and move the clock on instead of waiting."""
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Fault:
    """A failure to inject into the next request matching method and path prefix."""

    kind: str  # "500", "429", "403-rate", "403-secondary", "timeout"
    method: str | None = None
    path: str | None = None
    times: int = 1


class FakeService:
    """An HTTP server in a thread with a fault queue; subclasses answer requests."""

    stall_s = 0.4  # how long a "timeout" fault holds the answer (clients wait less)

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.stalls = 0
        self.lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """The server's base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()

    def fail(
        self, kind: str, *, method: str | None = None, path: str | None = None, times: int = 1
    ) -> None:
        """Queue a fault for the next `times` matching requests."""
        with self.lock:
            self.faults.append(Fault(kind, method, path, times))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if (fault.method in (None, method)) and (
                fault.path is None or path.startswith(fault.path)
            ):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _fault_reply(self, kind: str) -> Reply:
        if kind == "500":
            return 500, {"message": "Server Error"}, {}
        if kind == "429":
            return 429, {"message": "Too Many Requests"}, {"Retry-After": "2"}
        if kind == "403-rate":
            reset = str(int(self.clock.now) + 30)
            headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
            return 403, {"message": "API rate limit exceeded"}, headers
        if kind == "403-secondary":
            return (
                403,
                {"message": "You have exceeded a secondary rate limit"},
                {"Retry-After": "5"},
            )
        raise ValueError(kind)

    def dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        """Record the request, apply a queued fault or answer it."""
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        parts = urlsplit(handler.path)
        with self.lock:
            self.requests.append((method, parts.path))
            fault = self._take_fault(method, parts.path)
            if fault is not None and fault.kind != "timeout":
                reply = self._fault_reply(fault.kind)
            else:
                reply = self.answer(method, parts.path, parse_qs(parts.query), body, handler)
        if fault is not None and fault.kind == "timeout":
            self.stalls += 1
            time.sleep(self.stall_s)  # processed, but the client gives up before the answer
        _send(handler, *reply)

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        handler: BaseHTTPRequestHandler,
    ) -> Reply:
        """The normal answer to a request (subclasses)."""
        raise NotImplementedError


def _send(
    handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str]
) -> None:
    data = json.dumps(payload).encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)
    except OSError:  # the client timed out and left
        pass


def _handler(service: FakeService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms stall

        def do_GET(self) -> None:
            service.dispatch(self, "GET")

        def do_POST(self) -> None:
            service.dispatch(self, "POST")

        def do_PATCH(self) -> None:
            service.dispatch(self, "PATCH")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


_ISSUE_PATH = re.compile(r"/repos/([^/]+/[^/]+)/issues(?:/(\d+))?(/comments)?")


class FakeGitHub(FakeService):
    """The four issue endpoints Forewarn uses, with a token check and an invariant watch:
    `violations` lists every moment two open issues carried the same fingerprint."""

    def __init__(self, clock: FakeClock, token: str, repo: str) -> None:
        super().__init__(clock)
        self.token = token
        self.repo = repo
        self.issues: dict[int, dict[str, Any]] = {}
        self.violations: list[str] = []
        self._numbers = 0

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        handler: BaseHTTPRequestHandler,
    ) -> Reply:
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}, {}
        if method == "GET" and path == "/search/issues":
            return 200, self._search(query.get("q", [""])[0]), {}
        match = _ISSUE_PATH.fullmatch(path)
        if match is None or match[1] != self.repo:
            return 404, {"message": "Not Found"}, {}
        if match[2] is None:
            return (201, self._create(body), {}) if method == "POST" else (404, {}, {})
        issue = self.issues.get(int(match[2]))
        if issue is None:
            return 404, {"message": "Not Found"}, {}
        if match[3] and method == "POST":
            issue["comments"].append(body["body"])
            return 201, {"id": len(issue["comments"]), "body": body["body"]}, {}
        if method == "PATCH":
            issue["state"] = body.get("state", issue["state"])
            self._watch()
            return 200, self._public(issue), {}
        return 404, {"message": "Not Found"}, {}

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        number = self._numbers = self._numbers + 1  # never reused, as on GitHub
        self.issues[number] = {
            "number": number,
            "title": body["title"],
            "body": body["body"],
            "labels": list(body.get("labels", [])),
            "state": "open",
            "comments": [],
        }
        self._watch()
        return self._public(self.issues[number])

    def _search(self, q: str) -> dict[str, Any]:
        phrase = re.search(r'"([^"]+)"', q)
        repo = re.search(r"repo:(\S+)", q)
        items = [
            self._public(issue)
            for issue in self.issues.values()
            if phrase is not None
            and phrase[1] in issue["body"]
            and repo is not None
            and repo[1] == self.repo
            and ("is:open" not in q or issue["state"] == "open")
        ]
        return {"total_count": len(items), "incomplete_results": False, "items": items}

    @staticmethod
    def _public(issue: dict[str, Any]) -> dict[str, Any]:
        labels = [{"name": name} for name in issue["labels"]]
        return {**{k: v for k, v in issue.items() if k != "comments"}, "labels": labels}

    def _watch(self) -> None:
        open_per_marker: dict[str, int] = {}
        for issue in self.issues.values():
            found = MARKER.search(issue["body"])
            if found and issue["state"] == "open":
                open_per_marker[found[1]] = open_per_marker.get(found[1], 0) + 1
        self.violations += [fp for fp, count in open_per_marker.items() if count > 1]

    def issues_of(self, fingerprint: str) -> list[dict[str, Any]]:
        """Every issue (any state) whose body carries the fingerprint."""
        with self.lock:
            return [
                i
                for i in self.issues.values()
                if f"forewarn-fingerprint: {fingerprint}" in i["body"]
            ]


class FakeWebhook(FakeService):
    """Accepts JSON POSTs at any path and keeps them; `always_fail` answers 500 to all."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.events: list[dict[str, Any]] = []
        self.always_fail = False

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        handler: BaseHTTPRequestHandler,
    ) -> Reply:
        if self.always_fail:
            return 500, {"message": "down"}, {}
        if method != "POST":
            return 405, {}, {}
        self.events.append(body)
        return (202 if len(self.events) % 2 else 200), {"accepted": True}, {}
