"""The runtime container: everything long-lived, built once from Settings and passed down."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from forewarn.artifacts import artifact_key
from forewarn.db.engine import make_engine, make_session_factory
from forewarn.db.migrate import upgrade
from forewarn.errors import InvalidInputError
from forewarn.escalation.channels import ChannelConfig, build_channels
from forewarn.lifecycle.retrain import Retrainer, RetrainPolicy
from forewarn.monitor.checks import HealthLimits
from forewarn.monitor.scan import HealthMonitor, ScanPolicy
from forewarn.observability.metrics import Metrics
from forewarn.pipeline.ingest import ReadingPipeline
from forewarn.runtime.anomaly_bus import build_anomaly_bus
from forewarn.scheduling.cron import parse_cron
from forewarn.scheduling.jobs import Scheduler
from forewarn.scoring.active_cache import RedisModelCache
from forewarn.scoring.registry import ModelRegistry
from forewarn.scoring.scorer import Scorer
from forewarn.scoring.series_state import SeriesStates
from forewarn.scoring.usage import UsageTracker
from forewarn.security.principals import PrincipalCache
from forewarn.security.ratelimit import Counters, RateLimiter
from forewarn.security.tokens import TokenVerifier
from forewarn.settings import Settings, SettingsError
from forewarn.stream.bus import AnomalyBus


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
    retrainer: Retrainer
    retrain_schedule: str  # FOREWARN_RETRAIN_SCHEDULE, checked and normalised
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


def scan_policy(settings: Settings) -> ScanPolicy:
    """The health monitor's part of the settings."""
    limits = HealthLimits(
        stale_days=settings.monitor_stale_days,
        inactive_hours=settings.monitor_inactive_hours,
        max_inactive_versions=settings.monitor_max_inactive_versions,
        storage_mb=settings.monitor_storage_mb,
    )
    return ScanPolicy(
        limits=limits,
        model_dir=settings.resolved_model_dir,
        retention_days=settings.monitor_retention_days,
        max_escalations=settings.escalation_max_per_scan,
    )


def retrain_policy(settings: Settings) -> RetrainPolicy:
    """Scheduled retraining's part of the settings."""
    return RetrainPolicy(
        window_days=settings.retrain_window_days,
        holdout_days=settings.retrain_holdout_days,
        auto_tune=settings.auto_tune_thresholds,
        feedback_window_minutes=settings.feedback_window_minutes,
    )


def retrain_schedule(settings: Settings) -> str:
    """FOREWARN_RETRAIN_SCHEDULE, checked and normalised; SettingsError says what is wrong."""
    try:
        return parse_cron(settings.retrain_schedule).expression
    except InvalidInputError as err:
        raise SettingsError(f"setting FOREWARN_RETRAIN_SCHEDULE: {err.message}") from err


def build_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """Connect, optionally migrate, and wire every long-lived part."""
    schedule = retrain_schedule(settings)  # refuse a bad expression before anything starts
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
    scorer = Scorer(registry, SeriesStates(settings.max_streams), usage, anomalies.publish_rows)
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
        retrainer=Retrainer(
            sessions=sessions,
            registry=registry,
            artifact_key=key,
            scorer=scorer,
            policy=retrain_policy(settings),
        ),
        retrain_schedule=schedule,
        monitor=HealthMonitor(
            policy=scan_policy(settings),
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
