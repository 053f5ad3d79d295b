"""The runtime container: everything long-lived, built once from Settings and passed down."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from forewarn.db.engine import make_engine, make_session_factory
from forewarn.db.migrate import upgrade
from forewarn.escalation.channels import ChannelConfig, build_channels
from forewarn.jobs import Scheduler
from forewarn.ml.active_cache import RedisModelCache
from forewarn.ml.artifacts import artifact_key
from forewarn.ml.registry import ModelRegistry
from forewarn.ml.scoring import Scorer
from forewarn.ml.streams import StreamStore
from forewarn.ml.usage import UsageTracker
from forewarn.monitor.scan import HealthMonitor
from forewarn.observability.metrics import Metrics
from forewarn.pipeline.ingest import ReadingPipeline
from forewarn.security.principals import PrincipalCache
from forewarn.security.ratelimit import Counters, RateLimiter
from forewarn.security.tokens import TokenVerifier
from forewarn.settings import Settings
from forewarn.stream.bus import AnomalyBus
from forewarn.stream.factory import build_anomaly_bus


@dataclass(frozen=True)
class RateLimits:
    """The three limiters: per user, per client address, and login attempts."""

    user: RateLimiter
    ip: RateLimiter
    login: RateLimiter


@dataclass
class Runtime:
    """Long-lived parts of one Forewarn process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    secret: str
    artifact_key: bytes
    limits: RateLimits
    registry: ModelRegistry
    usage: UsageTracker
    scorer: Scorer
    pipeline: ReadingPipeline
    metrics: Metrics
    principals: PrincipalCache
    tokens: TokenVerifier
    jobs: Scheduler
    monitor: HealthMonitor
    anomalies: AnomalyBus

    def start(self) -> None:
        """Start background work (usage flushing, scheduled jobs)."""
        self.usage.start()
        self.jobs.start()
        self.anomalies.start()

    def close(self) -> None:
        """Stop jobs, flush what is pending and release connections."""
        self.jobs.stop()
        self.usage.stop()
        self.anomalies.stop()
        self.engine.dispose()


def _rate_limits(settings: Settings) -> RateLimits:
    counters = Counters(settings.redis_url)
    return RateLimits(
        user=RateLimiter(counters, scope="user", limit=settings.rate_limit_user_per_minute),
        ip=RateLimiter(counters, scope="ip", limit=settings.rate_limit_ip_per_minute),
        login=RateLimiter(counters, scope="login", limit=settings.rate_limit_login_per_minute),
    )


def channel_config(settings: Settings) -> ChannelConfig:
    """The escalation channels' part of the settings."""
    token = settings.github_token
    return ChannelConfig(
        log=settings.escalation_log,
        github_repo=settings.github_repo,
        github_token=None if token is None else token.get_secret_value(),
        github_api_url=settings.github_api_url,
        webhook_url=settings.escalation_webhook_url,
        timeout_s=settings.escalation_timeout_s,
        retries=settings.escalation_retries,
        backoff_s=settings.escalation_backoff_s,
        max_wait_s=settings.escalation_max_wait_s,
    )


def build_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """Connect, optionally migrate, and wire every long-lived part."""
    engine = make_engine(settings.resolved_database_url)
    if migrate:
        upgrade(engine)
    sessions = make_session_factory(engine)
    secret = settings.signing_secret()
    key = artifact_key(secret)
    registry = ModelRegistry(
        key=key,
        model_dir=settings.resolved_model_dir,
        cache_size=settings.model_cache_size,
        active_ttl_s=settings.active_model_ttl_s,
        shared=_model_cache(settings),
    )
    metrics = Metrics()
    anomalies = build_anomaly_bus(settings, metrics.registry)
    usage = UsageTracker(sessions, settings.usage_flush_interval_s, metrics)
    scorer = Scorer(registry, StreamStore(settings.max_streams), usage, anomalies.publish_rows)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        secret=secret,
        artifact_key=key,
        limits=_rate_limits(settings),
        registry=registry,
        usage=usage,
        scorer=scorer,
        pipeline=ReadingPipeline(
            registry=registry, scorer=scorer, ingested=metrics.readings_ingested
        ),
        metrics=metrics,
        principals=PrincipalCache(sessions, settings.auth_cache_ttl_s),
        tokens=TokenVerifier(secret),
        jobs=Scheduler(),
        monitor=HealthMonitor(
            settings=settings,
            engine=engine,
            sessions=sessions,
            usage=usage,
            metrics=metrics,
            channels=build_channels(channel_config(settings)),
        ),
        anomalies=anomalies,
    )


def _model_cache(settings: Settings) -> RedisModelCache | None:
    if not settings.redis_url:
        return None
    return RedisModelCache(settings.redis_url, ttl_s=settings.redis_model_cache_ttl_s)
