"""Run the API under uvicorn, tuned for a long-lived server process."""

from __future__ import annotations

import gc

from forewarn.runtime import Runtime


def prepare_process() -> None:
    """Warm imports and calm the garbage collector before serving.

    The first training would otherwise pay about a second of scikit-learn import. The
    collector's default thresholds make every large request walk the ~200k long-lived
    objects of the app again and again (measured: 100k-value batches spent more than half
    their time there); freezing them and raising the first threshold removes that cost.
    """
    import sklearn.ensemble  # noqa: F401

    tune_collector()


def tune_collector() -> None:
    """Move what is loaded out of the collector's sight and collect young objects less often.

    Long-lived processes (the API, MQTT ingest) otherwise walk their ~200k start-up objects
    in every full collection: pauses of tens of milliseconds in the middle of a batch.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def run_server(
    runtime: Runtime, host: str, port: int, *, own_runtime: bool, access_log: bool
) -> None:
    """Serve the API on host:port until interrupted."""
    import uvicorn

    from forewarn.api.app import create_app

    app = create_app(runtime, own_runtime=own_runtime)
    prepare_process()
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)
