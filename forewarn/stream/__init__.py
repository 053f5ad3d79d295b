"""The live anomaly stream: committed anomalies pushed to WebSocket clients, Redis and MQTT."""
