"""JSON over HTTP for the channels: httpx for the requests, tenacity for the retries.

Timeouts, connection errors, 408 and 5xx are retried with exponential backoff; rate limits
(429, or 403 that says so) wait as long as Retry-After or X-RateLimit-Reset ask, and a wait
longer than the policy allows pauses the channel instead. Errors name the channel and the
path, never the base URL (a webhook URL often carries a secret) nor the token.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from forewarn.errors import EscalationError, EscalationPausedError

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
    """A 2xx answer: status, headers (any case) and the parsed JSON body (None if not JSON)."""

    status: int
    headers: Mapping[str, str]
    body: Any


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
        self._clock = clock
        # Redirects are followed as urllib did (GitHub answers 301 for a renamed repository);
        # httpx drops the Authorization header when one leads to another host.
        self._http = httpx.Client(
            headers={"Accept": "application/json", **headers},
            timeout=timeout_s,
            follow_redirects=True,
        )
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
        where = f"{self.name} {method} {path or '/'}"
        # json.dumps as before: httpx's json= would raise on a NaN instead of sending it.
        content = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"} if content else None
        try:
            # The base URL is joined by hand: httpx's base_url would add a slash to "".
            response = self._http.request(
                method, self._base + path, content=content, headers=headers, params=params
            )
        except httpx.RequestError as err:
            # httpx's messages ("timed out", "[Errno 111] Connection refused") carry no URL.
            reason = str(err) or type(err).__name__
            raise HttpError(
                f"{where}: {reason}", status=None, retryable=True, retry_after_s=None
            ) from err
        self._note_limits(response.headers)
        if not response.is_success:
            raise self._status_error(where, response)
        return HttpResult(response.status_code, response.headers, _parse_json(response.content))

    def _note_limits(self, headers: Mapping[str, str]) -> None:
        """Stop sending once the server says the quota is spent, until its reset time."""
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                self._paused_until = float(headers["x-ratelimit-reset"])
            except ValueError:
                return

    def _status_error(self, where: str, response: httpx.Response) -> HttpError:
        status, headers = response.status_code, response.headers
        text = response.content[:2000].decode("utf-8", "replace")
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


def _retryable(err: BaseException) -> bool:
    return isinstance(err, HttpError) and err.retryable


def _log_retry(state: RetryCallState) -> None:
    err = state.outcome.exception() if state.outcome else None
    _LOGGER.info("%s; retrying in %.1f s", err, state.upcoming_sleep)


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
        self.max_wait_s = max_wait_s
        self._backoff = wait_exponential(multiplier=backoff_s, max=max_wait_s)
        self._retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(retries + 1),
            wait=self._wait,
            sleep=sleep,
            before_sleep=_log_retry,
            reraise=True,
        )

    def run(self, operation: Callable[[], T]) -> T:
        """The operation's result, after at most `retries` further attempts."""
        return self._retrying(lambda: self._attempt(operation))

    def _attempt(self, operation: Callable[[], T]) -> T:
        try:
            return operation()
        except HttpError as err:
            wait = err.retry_after_s
            if err.retryable and wait is not None and wait > self.max_wait_s:
                raise EscalationPausedError(f"{err} for {wait:.0f} s") from err
            raise

    def _wait(self, state: RetryCallState) -> float:
        """The wait the failed attempt's rate limit asked for, else the backoff."""
        asked = getattr(state.outcome.exception(), "retry_after_s", None) if state.outcome else None
        return self._backoff(state) if asked is None else min(asked, self.max_wait_s)
