"""`forewarn train`: train a series' model from the shell."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from forewarn.cli.common import console, err_console, open_runtime
from forewarn.errors import ForewarnError
from forewarn.ml.training import TrainSpec, train_model


def train(
    device_id: Annotated[uuid.UUID, typer.Option("--device", help="Device id")],
    metric: Annotated[str, typer.Option(help="Metric name")],
    days: Annotated[int, typer.Option(min=1, max=3650, help="Training window in days")] = 7,
    contamination: Annotated[
        float | None, typer.Option(min=0.0001, max=0.5, help="Expected share of anomalies")
    ] = None,
    n_estimators: Annotated[int | None, typer.Option(min=10, max=1000)] = None,
) -> None:
    """Train a model for one device/metric and make it active."""
    with open_runtime() as runtime, runtime.sessions() as session:
        settings = runtime.settings
        spec = TrainSpec(
            device_id=device_id,
            metric_name=metric,
            window_days=days,
            contamination=contamination or settings.default_contamination,
            n_estimators=n_estimators or settings.default_n_estimators,
        )
        with console.status(f"training {metric} on {days} days"):
            try:
                model = train_model(session, runtime.registry, runtime.artifact_key, spec)
            except ForewarnError as err:
                err_console.print(f"[red]{err}[/red]")
                raise typer.Exit(1) from err
        console.print(
            f"model {model.id} v{model.version}: {model.sample_count} readings, "
            f"threshold {model.threshold:.3f}, artifact {model.artifact_size} bytes"
        )
