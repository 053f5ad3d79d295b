"""The composition root: the runtime container and the wiring of its scheduled jobs.

Only the edge (api, cli, ingest, demo) imports this package; everything it builds receives
just the parts it uses.
"""

from forewarn.runtime.container import RateLimits, Runtime, build_runtime

__all__ = ["RateLimits", "Runtime", "build_runtime"]
