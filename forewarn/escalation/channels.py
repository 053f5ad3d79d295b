"""The table of escalation channels and which of them the configuration switches on."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from forewarn.escalation.base import Channel
from forewarn.escalation.github import GitHubChannel
from forewarn.escalation.http import Retrier
from forewarn.escalation.log import LogChannel
from forewarn.escalation.webhook import WebhookChannel

Clock = Callable[[], float]


@dataclass(frozen=True)
class ChannelConfig:
    """What the channels are built from (FOREWARN_ESCALATION_*, FOREWARN_GITHUB_*)."""

    log: bool
    github_repo: str | None
    github_token: str | None = field(repr=False)
    github_api_url: str
    webhook_url: str | None = field(repr=False)  # may carry a secret
    timeout_s: float
    retries: int
    backoff_s: float
    max_wait_s: float


@dataclass(frozen=True)
class ChannelKind:
    """A kind of channel and how to build it; None when the configuration leaves it off."""

    name: str
    build: Callable[[ChannelConfig, Retrier, Clock], Channel | None]


def _log(config: ChannelConfig, retrier: Retrier, clock: Clock) -> Channel | None:
    return LogChannel() if config.log else None


def _github(config: ChannelConfig, retrier: Retrier, clock: Clock) -> Channel | None:
    if config.github_repo is None or config.github_token is None:
        return None
    return GitHubChannel.connect(
        config.github_api_url,
        config.github_repo,
        config.github_token,
        timeout_s=config.timeout_s,
        retrier=retrier,
        clock=clock,
    )


def _webhook(config: ChannelConfig, retrier: Retrier, clock: Clock) -> Channel | None:
    if config.webhook_url is None:
        return None
    return WebhookChannel.connect(
        config.webhook_url, timeout_s=config.timeout_s, retrier=retrier, clock=clock
    )


CHANNEL_KINDS: tuple[ChannelKind, ...] = (
    ChannelKind("log", _log),
    ChannelKind("github", _github),
    ChannelKind("webhook", _webhook),
)


def build_channels(
    config: ChannelConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock = time.time,
) -> list[Channel]:
    """The channels the configuration enables, sharing one retry policy."""
    retrier = Retrier(
        retries=config.retries,
        backoff_s=config.backoff_s,
        max_wait_s=config.max_wait_s,
        sleep=sleep,
    )
    built = (kind.build(config, retrier, clock) for kind in CHANNEL_KINDS)
    return [channel for channel in built if channel is not None]
