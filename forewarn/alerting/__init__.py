"""Alarms wired in: the pipeline stage that raises them and the operators' actions on them."""
