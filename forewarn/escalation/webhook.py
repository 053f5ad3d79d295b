"""A generic JSON webhook: one POST per opened or resolved finding."""

from __future__ import annotations

import time
from collections.abc import Callable

from forewarn.escalation.base import Event
from forewarn.escalation.http import JsonClient, Retrier
from forewarn.settings import Settings, SettingsError


class WebhookChannel:
    """POSTs `Event.as_json()` to a URL; any 2xx answer counts as delivered."""

    name = "webhook"

    def __init__(self, client: JsonClient, retrier: Retrier) -> None:
        self._client = client
        self._retrier = retrier

    @classmethod
    def from_settings(
        cls, settings: Settings, retrier: Retrier, clock: Callable[[], float] = time.time
    ) -> WebhookChannel:
        """The channel for FOREWARN_ESCALATION_WEBHOOK_URL."""
        url = settings.escalation_webhook_url
        if url is None:
            raise SettingsError("FOREWARN_ESCALATION_WEBHOOK_URL is needed")
        headers = {"User-Agent": "forewarn-health-monitor"}
        client = JsonClient(
            "webhook", url, headers=headers, timeout_s=settings.escalation_timeout_s, clock=clock
        )
        return cls(client, retrier)

    def deliver(self, event: Event) -> str | None:
        """POST the event (retried on timeouts, 5xx and rate limits); keeps no reference."""
        self._retrier.run(lambda: self._client.request("POST", "", event.as_json()))
        return None
