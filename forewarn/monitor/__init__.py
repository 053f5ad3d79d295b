"""Model health monitor: checks over every model, findings, escalation, pruning."""
