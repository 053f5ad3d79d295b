"""MQTT ingest: device telemetry from a broker, batched into the database, acked after commit."""
