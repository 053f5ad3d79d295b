"""The Prometheus metrics of one process, on their own registry (no import-time globals).

Every part that counts something receives this object through the runtime; `/metrics`
serves `render()`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Scoring a reading takes microseconds; a request for a batch, up to seconds.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Counters, gauges and histograms exported at `/metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.readings_ingested = Counter(
            "forewarn_readings_ingested",
            "Readings committed to storage, by transport (http, mqtt, csv).",
            ["transport"],
            registry=registry,
        )
        self.predictions = Counter(
            "forewarn_predictions",
            "Readings scored by a model.",
            registry=registry,
        )
        self.prediction_latency = Histogram(
            "forewarn_prediction_latency_seconds",
            "Time to score one series' readings in one call (store excluded).",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.anomalies = Counter(
            "forewarn_anomalies",
            "Readings judged anomalous.",
            registry=registry,
        )
        self.active_models = Gauge(
            "forewarn_active_models",
            "Models serving a series, as of the last health scan.",
            registry=registry,
        )
        self.health_findings = Gauge(
            "forewarn_health_findings",
            "Open model-health findings, by check.",
            ["check"],
            registry=registry,
        )
        self.escalation_failures = Counter(
            "forewarn_escalation_failures",
            "Escalation attempts that failed (after retries), by channel.",
            ["channel"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "forewarn_dead_letters",
            "Ingest messages refused and kept in the dead-letter table, by reason kind.",
            ["kind"],
            registry=registry,
        )

    def render(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)
