"""Tests of MQTT ingest (forewarn/ingest)."""
