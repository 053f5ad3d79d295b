"""Anomaly detectors: each scores readings so that higher means more anomalous."""
