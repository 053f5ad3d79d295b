"""Entry point of the `forewarn` command."""

from __future__ import annotations

from typing import Annotated

import typer

from forewarn.cli import demo, evaluate, imports, ingest, monitor, retrain, simulate, train, users
from forewarn.cli.common import configure_logging, console, load_settings, open_runtime

app = typer.Typer(
    help="Forewarn: predictive-maintenance telemetry and anomaly detection.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users.app, name="user")
app.add_typer(monitor.app, name="monitor")
app.command("train")(train.train)
app.command("import-csv")(imports.import_csv)
app.command("demo")(demo.demo)
app.command("evaluate")(evaluate.evaluate)
app.command("ingest")(ingest.ingest)
app.command("simulate")(simulate.simulate)
app.command("retrain")(retrain.retrain)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    access_log: Annotated[bool, typer.Option(help="Log every request")] = False,
) -> None:
    """Migrate the database and serve the API (and MQTT ingest if FOREWARN_MQTT_URL is set)."""
    from forewarn.cli.serving import run_server
    from forewarn.runtime import build_runtime
    from forewarn.runtime.health_job import register_monitor_job
    from forewarn.runtime.retrain_job import register_retraining_job

    configure_logging()
    runtime = build_runtime(load_settings())
    register_monitor_job(runtime)
    register_retraining_job(runtime)
    console.print(f"Forewarn API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    with ingest.alongside_api(runtime) as ingesting:  # MQTT ingest when FOREWARN_MQTT_URL is set
        run_server(runtime, host, port, own_runtime=not ingesting, access_log=access_log)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations."""
    with open_runtime() as runtime:
        console.print(f"database at head: {runtime.engine.url.render_as_string()}")


if __name__ == "__main__":
    app()
