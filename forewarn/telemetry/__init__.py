"""Telemetry storage: batched writes and range/bucket reads."""
