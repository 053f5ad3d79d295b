"""Operational signals: Prometheus metrics of one Forewarn process."""
