"""`forewarn monitor ...`: scan model health now, and prune old model versions."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.table import Table

from forewarn.cli.common import console, err_console, open_runtime
from forewarn.db.models import HealthEscalation, HealthFinding
from forewarn.errors import ConflictError
from forewarn.monitor.checks import MIB
from forewarn.monitor.findings import escalations_of, list_findings
from forewarn.monitor.prune import PrunedModel, prune
from forewarn.monitor.scan import ScanReport

app = typer.Typer(help="Model health monitor.", no_args_is_help=True)
SHOWN_PRUNED = 50


def _summary(report: ScanReport) -> Table:
    table = Table(title="Open findings")
    table.add_column("check")
    table.add_column("open", justify="right")
    for name, count in report.open_by_check.items():
        table.add_row(name, str(count))
    return table


def _channels(escalations: list[HealthEscalation]) -> str:
    parts = []
    for row in escalations:
        ref = f" #{row.ref}" if row.ref and row.channel == "github" else ""
        error = f" ({row.attempts} failed)" if row.attempts else ""
        parts.append(f"{row.channel}{ref}: {row.state}{error}")
    return ", ".join(parts) or "-"


def _findings(
    rows: list[HealthFinding], escalations: dict[uuid.UUID, list[HealthEscalation]]
) -> Table:
    table = Table(title="Findings")
    for column in ("check", "status", "title", "since", "escalations"):
        table.add_column(column)
    for row in rows:
        since = row.opened_at.strftime("%Y-%m-%d %H:%M")
        status = row.status if row.occurrences == 1 else f"{row.status} (x{row.occurrences})"
        table.add_row(row.check_name, status, row.title, since, _channels(escalations[row.id]))
    return table


@app.command("scan")
def scan(
    show_all: Annotated[bool, typer.Option("--all", help="Also list resolved findings")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Most findings to list")] = 50,
) -> None:
    """Run the health checks now, escalate what changed, and list the findings."""
    with open_runtime() as runtime:
        try:
            report = runtime.monitor.scan()
        except ConflictError as err:
            err_console.print(f"[red]{err}[/red]")
            raise typer.Exit(1) from err
        with runtime.sessions() as session:
            rows, total = list_findings(session, None if show_all else "open", None, limit, 0)
            escalations = escalations_of(session, [row.id for row in rows])
    console.print(
        f"Health scan of {report.models_total:,} models ({report.models_active:,} active) "
        f"in {report.duration_ms:.0f} ms"
    )
    console.print(_summary(report))
    if rows:
        console.print(_findings(rows, escalations))
    if total > len(rows):
        console.print(f"... and {total - len(rows)} more (see --limit)")
    console.print(
        f"opened {report.opened}, resolved {report.resolved}, escalated {report.escalated}, "
        f"escalation failures {report.escalation_failures}"
    )


def _pruned(plan: list[PrunedModel], dry_run: bool) -> Table:
    table = Table(title="Would delete" if dry_run else "Deleted")
    for column in ("device", "metric", "version", "artifact", "anomalies"):
        table.add_column(column)
    for model in plan[:SHOWN_PRUNED]:
        table.add_row(
            str(model.device_id),
            model.metric_name,
            str(model.version),
            f"{model.artifact_size / 1024:.1f} KB",
            str(model.anomalies),
        )
    return table


@app.command("prune")
def prune_versions(
    keep: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Inactive versions to keep per series "
            "[default: FOREWARN_MONITOR_MAX_INACTIVE_VERSIONS]",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only list what would be deleted")] = False,
) -> None:
    """Delete inactive model versions beyond the newest N per series, with their artifacts
    (and their anomalies). Active models are never touched."""
    with open_runtime() as runtime, runtime.sessions() as session:
        kept = runtime.settings.monitor_max_inactive_versions if keep is None else keep
        plan = prune(session, runtime.registry, kept, dry_run=dry_run)
    if plan:
        console.print(_pruned(plan, dry_run))
    size = sum(model.artifact_size for model in plan) / MIB
    anomalies = sum(model.anomalies for model in plan)
    verb = "would delete" if dry_run else "deleted"
    console.print(
        f"{verb} {len(plan)} inactive versions ({size:.2f} MiB of artifacts, "
        f"{anomalies} anomalies), keeping the newest {kept} per series"
    )
