"""`forewarn train`: train a series' model from the shell."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.markup import escape

from forewarn.cli.common import console, err_console, open_runtime
from forewarn.detection.registry import ALGORITHMS
from forewarn.errors import ForewarnError, InvalidInputError
from forewarn.lifecycle.training import TrainSpec, choose_algorithm, train_model
from forewarn.schemas.ml import series_key

# The option of each TrainSpec field, to say which one a refusal is about.
_OPTIONS = {
    "metric_name": "--metric",
    "window_days": "--days",
    "algorithm": "--algorithm",
    "contamination": "--contamination",
    "n_estimators": "--n-estimators",
}


def _message(err: ForewarnError) -> str:
    """The error as one line, led by the option it is about when it is about one."""
    if isinstance(err, InvalidInputError) and err.loc and str(err.loc[0]) in _OPTIONS:
        return f"{_OPTIONS[str(err.loc[0])]}: {err.message}"
    return str(err)


def train(
    device_id: Annotated[uuid.UUID, typer.Option("--device", help="Device id")],
    metric: Annotated[
        str, typer.Option(help='Metric name; "*" or a comma-separated list for a device model')
    ],
    days: Annotated[int, typer.Option(min=1, max=3650, help="Training window in days")] = 7,
    algorithm: Annotated[
        str | None, typer.Option(help=f"One of: {', '.join(a.name for a in ALGORITHMS)}")
    ] = None,
    contamination: Annotated[
        float | None,
        typer.Option(min=0.0001, max=0.5, help="Isolation Forest: expected anomaly share"),
    ] = None,
    n_estimators: Annotated[
        int | None, typer.Option(min=10, max=1000, help="Isolation Forest: trees")
    ] = None,
) -> None:
    """Train a model for one device/metric (or a device-level model) and make it active."""
    with open_runtime() as runtime, runtime.sessions() as session:
        try:
            forest_given = contamination is not None or n_estimators is not None
            key = series_key(metric.split(",")) if "," in metric else metric
            spec = TrainSpec(
                device_id=device_id,
                metric_name=key,
                window_days=days,
                algorithm=choose_algorithm(
                    algorithm, forest_options_given=forest_given, metric_name=key
                ),
                contamination=contamination,
                n_estimators=n_estimators,
            )
            with console.status(f"training {spec.algorithm} on {days} days of {metric}"):
                model = train_model(session, runtime.registry, runtime.artifact_key, spec)
        except ForewarnError as err:
            err_console.print(f"[red]{escape(_message(err))}[/red]")
            raise typer.Exit(1) from err
        console.print(
            f"model {model.id} v{model.version} ({model.algorithm}): {model.sample_count} "
            f"readings, threshold {model.threshold:.3f}, artifact {model.artifact_size} bytes"
        )
