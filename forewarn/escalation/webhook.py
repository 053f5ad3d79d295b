"""A generic JSON webhook: one POST per opened or resolved finding."""

from __future__ import annotations

import time
from collections.abc import Callable

from forewarn.escalation.base import Event
from forewarn.escalation.http import JsonClient, Retrier


class WebhookChannel:
    """POSTs `Event.as_json()` to a URL; any 2xx answer counts as delivered."""

    name = "webhook"

    def __init__(self, client: JsonClient, retrier: Retrier) -> None:
        self._client = client
        self._retrier = retrier

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        timeout_s: float,
        retrier: Retrier,
        clock: Callable[[], float] = time.time,
    ) -> WebhookChannel:
        """The channel that POSTs to `url`."""
        headers = {"User-Agent": "forewarn-health-monitor"}
        client = JsonClient("webhook", url, headers=headers, timeout_s=timeout_s, clock=clock)
        return cls(client, retrier)

    def deliver(self, event: Event) -> str | None:
        """POST the event (retried on timeouts, 5xx and rate limits); keeps no reference."""
        self._retrier.run(lambda: self._client.request("POST", "", event.as_json()))
        return None
