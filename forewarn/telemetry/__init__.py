"""Telemetry: the one rule a reading must meet, batched writes, range/bucket reads, dead letters."""
