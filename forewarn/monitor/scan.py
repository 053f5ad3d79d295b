"""The health monitor: one generic runner over the check table, then escalation."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from forewarn.db.models import HealthScan
from forewarn.db.types import utcnow
from forewarn.errors import ConflictError
from forewarn.escalation.base import Channel
from forewarn.monitor.checks import CHECKS, Check, HealthLimits, evaluate, model_filter
from forewarn.monitor.escalate import escalate
from forewarn.monitor.facts import gather
from forewarn.monitor.findings import open_counts, purge, reconcile
from forewarn.monitor.lock import scan_lock
from forewarn.observability.metrics import Metrics
from forewarn.scoring.usage import UsageTracker

_LOGGER = logging.getLogger(__name__)
_BUSY = "a model health scan is already running"


@dataclass(frozen=True)
class ScanReport:
    """What one scan saw and did."""

    started_at: datetime
    duration_ms: float
    models_total: int
    models_active: int
    open_by_check: dict[str, int]
    opened: int
    resolved: int
    escalated: int
    escalation_failures: int

    @property
    def findings_open(self) -> int:
        """Open findings over every check."""
        return sum(self.open_by_check.values())


@dataclass(frozen=True)
class ScanPolicy:
    """What a scan compares against, where models live, and how much it keeps and sends."""

    limits: HealthLimits
    model_dir: Path
    retention_days: float  # resolved findings older than this are deleted
    max_escalations: int  # channel deliveries per scan


class HealthMonitor:
    """Runs the checks over every model, keeps the findings, and escalates their changes."""

    def __init__(
        self,
        *,
        policy: ScanPolicy,
        engine: Engine,
        sessions: sessionmaker[Session],
        usage: UsageTracker,
        metrics: Metrics,
        channels: Sequence[Channel],
        checks: tuple[Check, ...] = CHECKS,
    ) -> None:
        self.policy = policy
        self._engine = engine
        self._sessions = sessions
        self._usage = usage
        self._metrics = metrics
        self.channels = tuple(channels)
        self.checks = checks
        self._running = threading.Lock()

    def scan(self, now: datetime | None = None) -> ScanReport:
        """Scan now (as of `now`, default the clock); ConflictError if a scan is running."""
        if not self._running.acquire(blocking=False):
            raise ConflictError(_BUSY)
        try:
            with scan_lock(self._engine) as taken:
                if not taken:
                    raise ConflictError(_BUSY)
                return self._scan(now or utcnow())
        finally:
            self._running.release()

    def run_scheduled(self) -> None:
        """The periodic job: scan, or skip quietly if another scan holds the lock."""
        try:
            report = self.scan()
        except ConflictError:
            _LOGGER.info("health scan skipped: %s", _BUSY)
            return
        _LOGGER.info(
            "health scan: %s models, %s open findings (+%s, -%s) in %.0f ms",
            report.models_total,
            report.findings_open,
            report.opened,
            report.resolved,
            report.duration_ms,
        )

    def _scan(self, now: datetime) -> ScanReport:
        started = time.perf_counter()
        self._usage.flush()  # prediction counters are batched; the checks need them current
        with self._sessions() as session, session.begin():
            policy = self.policy
            wanted = model_filter(self.checks, now, policy.limits)
            facts = gather(session, policy.model_dir, now, wanted)
            changes = reconcile(session, evaluate(facts, policy.limits, self.checks), now)
            purge(session, now - timedelta(days=policy.retention_days))
        tally = escalate(
            self._sessions,
            self.channels,
            metrics=self._metrics,
            now=now,
            limit=self.policy.max_escalations,
        )
        with self._sessions() as session, session.begin():
            counts = open_counts(session)
            report = ScanReport(
                started_at=now,
                duration_ms=(time.perf_counter() - started) * 1000,
                models_total=facts.models_total,
                models_active=facts.models_active,
                open_by_check={check.name: counts.get(check.name, 0) for check in self.checks},
                opened=changes.opened,
                resolved=changes.resolved,
                escalated=tally.delivered,
                escalation_failures=tally.failed,
            )
            session.add(_scan_row(report))
        self._publish(report)
        return report

    def _publish(self, report: ScanReport) -> None:
        self._metrics.active_models.set(report.models_active)
        for name, count in report.open_by_check.items():
            self._metrics.health_findings.labels(check=name).set(count)


def _scan_row(report: ScanReport) -> HealthScan:
    return HealthScan(
        id=uuid.uuid4(),
        started_at=report.started_at,
        duration_ms=report.duration_ms,
        models_total=report.models_total,
        models_active=report.models_active,
        findings_open=report.findings_open,
        opened=report.opened,
        resolved=report.resolved,
        escalated=report.escalated,
        escalation_failures=report.escalation_failures,
    )
