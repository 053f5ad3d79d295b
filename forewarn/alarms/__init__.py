"""Alarms, the domain of the alerting issue: lifecycle, rules, on-call and escalation (pure)."""
