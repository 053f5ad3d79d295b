"""Settings read from FOREWARN_* environment variables (and an optional .env file)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values people paste from tutorials; a signing key equal to one of these is refused.
_WEAK_SECRETS = frozenset({"secret", "changeme", "change-me", "password", "your-secret-key"})
_MIN_SECRET_LENGTH = 32
_SECRET_FILE = "secret.key"
# Weekly, Sunday 03:00 UTC. The expression is checked where the runtime is built
# (forewarn.scheduling.cron reads it): the settings import nothing of Forewarn's.
DEFAULT_RETRAIN_SCHEDULE = "0 3 * * 0"


class SettingsError(ValueError):
    """Raised when the configuration cannot be used."""


class Settings(BaseSettings):
    """Everything configurable about one Forewarn installation."""

    model_config = SettingsConfigDict(env_prefix="FOREWARN_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./forewarn-data")
    database_url: str | None = None
    model_dir: Path | None = None
    secret_key: SecretStr | None = None
    redis_url: str | None = None

    access_token_expire_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 60
    # How long a user's role/activity may be served from memory (0: read it every request).
    auth_cache_ttl_s: Annotated[float, Field(ge=0, le=300)] = 5.0
    rate_limit_user_per_minute: Annotated[int, Field(ge=1)] = 1200
    rate_limit_ip_per_minute: Annotated[int, Field(ge=1)] = 2400
    rate_limit_login_per_minute: Annotated[int, Field(ge=1)] = 10
    max_telemetry_batch: Annotated[int, Field(ge=1, le=1_000_000)] = 50_000
    max_predict_batch: Annotated[int, Field(ge=1, le=10_000_000)] = 200_000
    max_request_bytes: Annotated[int, Field(ge=1024)] = 32 * 1024 * 1024
    model_cache_size: Annotated[int, Field(ge=1)] = 2048
    max_streams: Annotated[int, Field(ge=1)] = 5000
    active_model_ttl_s: Annotated[float, Field(ge=0)] = 5.0
    usage_flush_interval_s: Annotated[float, Field(gt=0)] = 1.0

    # Model health monitor (forewarn/monitor) and its escalation channels (forewarn/escalation).
    monitor_interval_s: Annotated[float, Field(ge=1)] = 300.0
    monitor_stale_days: Annotated[float, Field(gt=0)] = 7.0
    monitor_inactive_hours: Annotated[float, Field(gt=0)] = 24.0
    monitor_max_inactive_versions: Annotated[int, Field(ge=0)] = 5
    monitor_storage_mb: Annotated[float, Field(gt=0)] = 500.0
    monitor_retention_days: Annotated[float, Field(gt=0)] = 30.0
    escalation_log: bool = True
    github_repo: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")] = None
    github_token: Annotated[SecretStr | None, Field(validate_default=True)] = None
    github_api_url: Annotated[str, Field(pattern=r"^https?://\S+$")] = "https://api.github.com"
    escalation_webhook_url: Annotated[str | None, Field(pattern=r"^https?://\S+$")] = None
    escalation_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    escalation_retries: Annotated[int, Field(ge=0, le=10)] = 3
    escalation_backoff_s: Annotated[float, Field(ge=0, le=300)] = 1.0
    escalation_max_wait_s: Annotated[float, Field(ge=0, le=3600)] = 60.0
    escalation_max_per_scan: Annotated[int, Field(ge=1)] = 20

    @field_validator("github_token")
    @classmethod
    def _github_needs_both(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if "github_repo" in info.data and (value is None) != (info.data["github_repo"] is None):
            raise ValueError("set FOREWARN_GITHUB_TOKEN and FOREWARN_GITHUB_REPO together")
        return value

    # MQTT ingest (forewarn/ingest): off unless mqtt_url is set. Two processes need distinct
    # client ids; the same id after a restart resumes the broker's persistent session.
    mqtt_url: Annotated[str | None, Field(pattern=r"^mqtts?://\S+$")] = None
    mqtt_client_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")] = "forewarn-ingest"
    mqtt_shared_group: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{0,64}$")] = ""
    mqtt_topic_root: Annotated[str, Field(pattern=r"^[^/#+\s]+(/[^/#+\s]+)*$")] = "forewarn/v1"
    mqtt_session_expiry_s: Annotated[int, Field(ge=0, le=4_294_967_295)] = 7 * 24 * 3600
    mqtt_keepalive_s: Annotated[int, Field(ge=5, le=65_535)] = 30
    ingest_batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = 5000
    ingest_batch_latency_ms: Annotated[int, Field(ge=1, le=60_000)] = 20
    ingest_max_pending: Annotated[int, Field(ge=1, le=65_535)] = 10_000
    ingest_max_payload_bytes: Annotated[int, Field(ge=64, le=16 * 1024 * 1024)] = 64 * 1024

    # Live anomaly stream (forewarn/stream): WebSocket queues, Redis fan-out, MQTT publishing
    # (to the broker of mqtt_url, above).
    anomaly_topic: Annotated[str, Field(pattern=r"^[^#+{}\s]*\{device_id\}[^#+{}\s]*$")] = (
        "forewarn/v1/devices/{device_id}/anomalies"
    )
    anomaly_channel: Annotated[str, Field(pattern=r"^\S{1,200}$")] = "forewarn:v1:anomalies"
    ws_queue_size: Annotated[int, Field(ge=2, le=100_000)] = 256
    stream_queue_size: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    redis_model_cache_ttl_s: Annotated[float, Field(gt=0)] = 60.0

    # Model lifecycle (forewarn/lifecycle): scheduled retraining, feedback, /metrics.
    retrain_enabled: bool = True
    retrain_schedule: str = DEFAULT_RETRAIN_SCHEDULE  # cron, UTC; checked by build_runtime
    retrain_window_days: Annotated[int, Field(ge=1, le=3650)] | None = None  # None: the model's
    retrain_holdout_days: Annotated[float, Field(gt=0, le=365)] = 1.0
    retrain_check_interval_s: Annotated[float, Field(gt=0)] = 60.0
    retrain_budget_s: Annotated[float, Field(gt=0)] = 30.0  # per job run; the rest goes next
    feedback_window_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60)] = 60
    auto_tune_thresholds: bool = False
    metrics_token: Annotated[SecretStr | None, Field(min_length=32)] = None

    @field_validator("secret_key")
    @classmethod
    def _refuse_weak_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw.lower() in _WEAK_SECRETS or len(raw) < _MIN_SECRET_LENGTH:
            msg = f"FOREWARN_SECRET_KEY must be at least {_MIN_SECRET_LENGTH} random characters"
            raise ValueError(msg)
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the data directory."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'forewarn.db').resolve()}"

    @property
    def resolved_model_dir(self) -> Path:
        """Where model artifacts live."""
        return self.model_dir if self.model_dir is not None else self.data_dir / "models"

    def signing_secret(self) -> str:
        """The JWT/artifact secret: configured, or generated once and kept in the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _load_or_create_secret(self.data_dir / _SECRET_FILE)


def normalise_database_url(url: str) -> str:
    """Point plain PostgreSQL URLs at the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _load_or_create_secret(path: Path) -> str:
    """Read the kept secret, creating it (mode 600) on first use."""
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) < _MIN_SECRET_LENGTH:
            raise SettingsError(f"{path} holds a secret that is too short; delete it to regenerate")
        return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must not overwrite each other's secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _load_or_create_secret(path)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    return secret
