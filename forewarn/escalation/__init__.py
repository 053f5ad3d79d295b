"""Escalation channels: where model-health findings are announced (GitHub, webhook, log)."""
