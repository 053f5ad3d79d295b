"""`forewarn retrain`: retrain series now (champion/challenger) and show what happened."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from forewarn.cli.common import console, err_console, open_runtime
from forewarn.lifecycle.due import chosen_models, due_models
from forewarn.lifecycle.retrain import Outcome, retrain_series
from forewarn.runtime import Runtime


def _targets(
    runtime: Runtime, everything: bool, device_id: uuid.UUID | None, metric: str | None
) -> list[uuid.UUID]:
    with runtime.sessions() as session:
        if everything or device_id is not None:
            return chosen_models(
                session, device_id=device_id, metric_name=metric, everything=everything
            )
        return due_models(session, runtime.retrain_schedule, datetime.now(UTC))


def _verdict(outcome: Outcome, dry_run: bool) -> str:
    if outcome.reason is not None and outcome.evaluation is None:
        return "[red]failed[/red]"
    if outcome.promoted:
        return "would promote" if dry_run else "[green]promoted[/green]"
    return "would reject" if dry_run else "[yellow]rejected[/yellow]"


def _alarms(outcome: Outcome) -> str:
    if outcome.evaluation is None:
        return ""
    old, new = outcome.evaluation["champion"], outcome.evaluation["challenger"]
    return f"{old['alarms']} → {new['alarms']}"


def _table(outcomes: list[Outcome], dry_run: bool) -> Table:
    table = Table(title="retraining" + (" (dry run: nothing stored)" if dry_run else ""))
    for column in ("device", "series", "outcome", "held-out alarms (now → new)", "reason"):
        table.add_column(column)
    for o in outcomes:
        row = (str(o.device_id), o.metric_name, _verdict(o, dry_run), _alarms(o), o.reason or "")
        table.add_row(*row)
    return table


def retrain(
    everything: Annotated[
        bool, typer.Option("--all", help="Every active model, due or not")
    ] = False,
    device_id: Annotated[
        uuid.UUID | None, typer.Option("--device", help="Only this device's series")
    ] = None,
    metric: Annotated[str | None, typer.Option(help="With --device: only this series")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Compare only; store nothing")] = False,
) -> None:
    """Retrain the series that are due (or --all, or --device [--metric]) now: a challenger is
    promoted only if its backtest on the latest readings is not worse than the current model's."""
    if metric is not None and device_id is None:
        err_console.print("[red]--metric needs --device[/red]")
        raise typer.Exit(2)
    if everything and device_id is not None:
        err_console.print("[red]give --all or --device, not both[/red]")
        raise typer.Exit(2)
    with open_runtime() as runtime:
        targets = _targets(runtime, everything, device_id, metric)
        outcomes: list[Outcome] = []
        with Progress(
            TextColumn("retraining"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console,
        ) as progress:  # fmt: skip
            task = progress.add_task("retrain", total=len(targets))
            for model_id in targets:
                outcomes.append(retrain_series(runtime.retrainer, model_id, dry_run=dry_run))
                progress.advance(task)
    if not outcomes:
        console.print("no series to retrain")
        return
    console.print(_table(outcomes, dry_run))
    promoted = sum(o.promoted for o in outcomes)
    console.print(f"{promoted} of {len(outcomes)} " + ("would be " if dry_run else "") + "promoted")
