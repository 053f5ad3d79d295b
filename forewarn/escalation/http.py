"""JSON over HTTP for the channels: stdlib client, rate-limit headers, retries with backoff.

The standard library is enough for a handful of small JSON calls per scan, so escalation
adds no runtime dependency. Errors name the channel and the path, never the base URL (a
webhook URL often carries a secret) nor the token.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from forewarn.errors import EscalationError, EscalationPausedError
from forewarn.settings import Settings

_LOGGER = logging.getLogger(__name__)
# GitHub's advice for a secondary rate limit that names no wait: at least a minute.
_DEFAULT_RATE_LIMIT_WAIT_S = 60.0
T = TypeVar("T")


class HttpError(EscalationError):
    """A request without an answer (status None) or with a non-2xx status."""

    def __init__(
        self, message: str, *, status: int | None, retryable: bool, retry_after_s: float | None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class HttpResult:
    """A 2xx answer: status, lower-cased headers and the parsed JSON body (None if not JSON)."""

    status: int
    headers: Mapping[str, str]
    body: Any


def _headers(message: Message) -> dict[str, str]:
    return {key.lower(): value for key, value in message.items()}


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


class JsonClient:
    """Sends JSON requests under a base URL and honours rate-limit headers."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        headers: Mapping[str, str],
        timeout_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._base = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", **headers}
        self._timeout_s = timeout_s
        self._clock = clock
        self._opener = urllib.request.build_opener()
        self._paused_until = 0.0

    def request(
        self, method: str, path: str, body: Any = None, params: Mapping[str, str] | None = None
    ) -> HttpResult:
        """One request; raises HttpError for no answer or a non-2xx status."""
        wait = self._paused_until - self._clock()
        if wait > 0:
            raise HttpError(
                f"{self.name}: rate limited", status=None, retryable=True, retry_after_s=wait
            )
        url = self._base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {**self._headers, **({"Content-Type": "application/json"} if data else {})}
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        where = f"{self.name} {method} {path or '/'}"
        try:
            with self._opener.open(request, timeout=self._timeout_s) as response:
                found = _headers(response.headers)
                result = HttpResult(response.status, found, _parse_json(response.read()))
        except urllib.error.HTTPError as err:
            found = _headers(err.headers)
            self._note_limits(found)
            raise self._status_error(where, err.code, found, err.read()) from err
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            raise HttpError(
                f"{where}: {reason}", status=None, retryable=True, retry_after_s=None
            ) from err
        self._note_limits(found)
        return result

    def _note_limits(self, headers: Mapping[str, str]) -> None:
        """Stop sending once the server says the quota is spent, until its reset time."""
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                self._paused_until = float(headers["x-ratelimit-reset"])
            except ValueError:
                return

    def _status_error(
        self, where: str, status: int, headers: Mapping[str, str], raw: bytes
    ) -> HttpError:
        text = raw[:2000].decode("utf-8", "replace")
        limited = status == 429 or (
            status == 403
            and (
                headers.get("x-ratelimit-remaining") == "0"
                or "retry-after" in headers
                or "rate limit" in text.lower()
            )
        )
        if limited:
            wait = _rate_limit_wait(headers, self._clock())
            return HttpError(
                f"{where}: HTTP {status} (rate limited)",
                status=status,
                retryable=True,
                retry_after_s=wait,
            )
        retryable = status >= 500 or status == 408
        return HttpError(
            f"{where}: HTTP {status}", status=status, retryable=retryable, retry_after_s=None
        )


def _rate_limit_wait(headers: Mapping[str, str], now: float) -> float:
    """Seconds to wait, from Retry-After (seconds or a date) or X-RateLimit-Reset."""
    value = headers.get("retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = headers.get("x-ratelimit-reset")
    if headers.get("x-ratelimit-remaining") == "0" and reset is not None:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            pass
    return _DEFAULT_RATE_LIMIT_WAIT_S


class Retrier:
    """Runs an operation again after retryable failures: exponential backoff, or the wait a
    rate limit asks for; a wait longer than `max_wait_s` pauses the channel instead."""

    def __init__(
        self,
        *,
        retries: int,
        backoff_s: float,
        max_wait_s: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self._sleep = sleep

    @classmethod
    def from_settings(
        cls, settings: Settings, sleep: Callable[[float], None] = time.sleep
    ) -> Retrier:
        """The policy configured by FOREWARN_ESCALATION_*."""
        return cls(
            retries=settings.escalation_retries,
            backoff_s=settings.escalation_backoff_s,
            max_wait_s=settings.escalation_max_wait_s,
            sleep=sleep,
        )

    def run(self, operation: Callable[[], T]) -> T:
        """The operation's result, after at most `retries` further attempts."""
        attempt = 0
        while True:
            try:
                return operation()
            except HttpError as err:
                if not err.retryable:
                    raise
                wait = err.retry_after_s
                if wait is not None and wait > self.max_wait_s:
                    raise EscalationPausedError(f"{err} for {wait:.0f} s") from err
                if attempt >= self.retries:
                    raise
                wait = min(self.backoff_s * 2**attempt if wait is None else wait, self.max_wait_s)
                _LOGGER.info("%s; retrying in %.1f s", err, wait)
                self._sleep(wait)
                attempt += 1
