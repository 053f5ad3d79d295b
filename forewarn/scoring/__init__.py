"""Scoring with the active models: registry, per-series detector state, scorer, usage."""
