"""Time-based work: cron expressions and the in-process job scheduler."""
