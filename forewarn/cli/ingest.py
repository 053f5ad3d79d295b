"""`forewarn ingest`: consume MQTT telemetry until SIGTERM or SIGINT, then shut down cleanly."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from forewarn.cli.common import configure_logging, console, err_console, load_settings, open_runtime
from forewarn.cli.serving import tune_collector
from forewarn.ingest.service import IngestService, IngestStats
from forewarn.runtime import Runtime


def ingest(
    verbose: Annotated[bool, typer.Option(help="Debug logging")] = False,
) -> None:
    """Consume device telemetry from FOREWARN_MQTT_URL into the database (no API)."""
    configure_logging(verbose)
    settings = load_settings()
    if not settings.mqtt_url:
        err_console.print("[red]set FOREWARN_MQTT_URL (e.g. mqtt://127.0.0.1:1883)[/red]")
        raise typer.Exit(2)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with open_runtime(settings) as runtime:
        stats = run_until(runtime, stop)
    console.print(_summary(stats))


def run_until(runtime: Runtime, stop: threading.Event) -> IngestStats:
    """Run the ingest service until `stop` is set; commit, acknowledge and disconnect."""
    service = IngestService(runtime)
    tune_collector()
    runtime.start()  # usage counters and the anomaly stream; no jobs are registered here
    service.start()
    config = service.consumer.config
    console.print(
        f"ingesting {config.subscription} from {config.host}:{config.port} "
        f"as {config.client_id}; Ctrl-C or SIGTERM stops"
    )
    while not stop.wait(0.5):
        pass
    console.print("stopping: committing what was received")
    service.stop()
    return service.stats


def _summary(stats: IngestStats) -> Table:
    table = Table(title="MQTT ingest")
    table.add_column("counter")
    table.add_column("value", justify="right")
    for name, value in vars(stats).items():
        table.add_row(name.replace("_", " "), f"{value:,}")
    return table


@contextmanager
def alongside_api(runtime: Runtime) -> Iterator[bool]:
    """For `serve`: ingest in the background when FOREWARN_MQTT_URL is set (yields whether it
    does). The service is stopped, and then the runtime closed, after the server returns."""
    if not runtime.settings.mqtt_url:
        yield False
        return
    service = IngestService(runtime)
    service.start()
    console.print(f"MQTT ingest: {service.consumer.config.subscription}")
    # uvicorn handles SIGTERM, then restores this handler and raises the signal again: the
    # default handler would end the process before the batch in hand is committed and acked.
    previous = signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        yield True
    finally:
        service.stop()
        runtime.close()
        signal.signal(signal.SIGTERM, previous)


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)
