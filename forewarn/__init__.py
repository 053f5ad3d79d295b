"""Forewarn: telemetry, anomaly detection and alerting for predictive maintenance."""

__version__ = "0.1.0"
