"""The table of escalation channels and which of them the settings switch on."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from forewarn.escalation.base import Channel
from forewarn.escalation.github import GitHubChannel
from forewarn.escalation.http import Retrier
from forewarn.escalation.log import LogChannel
from forewarn.escalation.webhook import WebhookChannel
from forewarn.settings import Settings

Clock = Callable[[], float]


@dataclass(frozen=True)
class ChannelKind:
    """A kind of channel: when it is on, and how to build it from the settings."""

    name: str
    enabled: Callable[[Settings], bool]
    build: Callable[[Settings, Retrier, Clock], Channel]


CHANNEL_KINDS: tuple[ChannelKind, ...] = (
    ChannelKind("log", lambda s: s.escalation_log, lambda s, r, c: LogChannel()),
    ChannelKind(
        "github",
        lambda s: s.github_token is not None and s.github_repo is not None,
        GitHubChannel.from_settings,
    ),
    ChannelKind(
        "webhook", lambda s: s.escalation_webhook_url is not None, WebhookChannel.from_settings
    ),
)


def build_channels(
    settings: Settings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock = time.time,
) -> list[Channel]:
    """The channels the settings enable, sharing one retry policy."""
    retrier = Retrier.from_settings(settings, sleep)
    return [
        kind.build(settings, retrier, clock) for kind in CHANNEL_KINDS if kind.enabled(settings)
    ]
