"""`forewarn demo`: simulated sensors end to end, a fault report, then the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from forewarn.cli.common import configure_logging, console, err_console, open_runtime
from forewarn.cli.serving import run_server
from forewarn.demo import GRACE_MS, AdminLogin, DemoResult, FaultOutcome, combine, run_demo
from forewarn.demo.run import Advance, SeriesReport, StageHook
from forewarn.detection.registry import DEFAULT_ALGORITHM
from forewarn.detection.registry import algorithm as registered_algorithm
from forewarn.errors import ForewarnError
from forewarn.runtime import Runtime
from forewarn.telemetry.readings import parse_timestamp

_STATUS_STYLE = {"caught": "green", "missed": "red", "unobservable": "yellow"}
_ANY_ADDRESS = {"", "0.0.0.0", "::"}
_JSON = "Content-Type: application/json"
_READ_TOKEN = 'import json, sys; print(json.load(sys.stdin)["access_token"])'
_LIMITS = (
    "Every model is {algorithm}, trained on day 1 only. A sensor that stops reporting "
    "leaves no reading inside its window to score. Compare with the replaced platform's "
    "point-wise detector: forewarn demo --no-serve --algorithm isolation_forest"
)


def demo(
    seed: Annotated[int, typer.Option(help="Seed of the simulated data and the models")] = 0,
    days: Annotated[int, typer.Option(min=2, max=30, help="Days of readings to simulate")] = 2,
    host: Annotated[str, typer.Option(help="Address to serve the API on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve the API on")] = 8000,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API afterwards")
    ] = True,
    algorithm: Annotated[
        str, typer.Option(help="Detector of every model (e.g. isolation_forest, to compare)")
    ] = DEFAULT_ALGORITHM,
    end: Annotated[
        str | None,
        typer.Option(
            help="End of the simulated readings, epoch ms or ISO 8601 (default: now). "
            "The same --seed and --end replay the same run."
        ),
    ] = None,
) -> None:
    """Simulate three sensors with faults, train and score them, report, then serve the API."""
    try:
        registered_algorithm(algorithm)
        end_ms = None if end is None else parse_timestamp(end)
    except ForewarnError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from err
    with open_runtime() as runtime:
        console.rule("[bold]Forewarn demo")
        console.print(f"database: {runtime.engine.url.render_as_string()}", highlight=False)
        try:
            with _progress() as progress:
                result = run_demo(
                    runtime, seed=seed, days=days, algorithm=algorithm, end_ms=end_ms,
                    stage=_stage_hook(progress),
                )  # fmt: skip
        except ForewarnError as err:
            err_console.print(f"[red]demo failed: {err}[/red]")
            raise typer.Exit(1) from err
        _print_report(result)
        if not serve:
            console.print(
                "API not started (--no-serve); run [bold]forewarn serve[/bold] to explore."
            )
            return
        _print_try_it(result, host, port)
        _serve(runtime, host, port)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console,
    )  # fmt: skip


def _stage_hook(progress: Progress) -> StageHook:
    """Each demo stage gets its own bar."""

    def stage(description: str, total: int) -> Advance:
        task = progress.add_task(description, total=total)
        return lambda amount: progress.update(task, advance=amount)

    return stage


def _print_report(result: DemoResult) -> None:
    names = ", ".join(f"{d.name} ({d.location})" for d in result.devices)
    if result.removed:
        console.print(f"removed {result.removed} demo device(s) of an earlier run")
    console.print(f"registered {names}", highlight=False)
    console.print(f"ingested {result.readings:,} readings; trained {result.models} models on day 1")
    console.print(_faults_table(result))
    console.print(_series_table(result.series))
    _print_summary(result)
    console.print(_admin_panel(result.admin))


def _print_summary(result: DemoResult) -> None:
    total = combine(r.evaluation for r in result.series)
    scored = total.scored or 0
    share = total.false_alarms / scored if scored else 0.0
    console.print(
        f"[bold]{total.caught} of {len(total.outcomes)} faults caught[/bold]; "
        f"{total.false_alarms:,} false alarms in {scored:,} scored readings ({share:.1%})"
    )
    console.print(_LIMITS.format(algorithm=result.algorithm), style="dim", highlight=False)


def _faults_table(result: DemoResult) -> Table:
    table = Table(
        title="Injected faults vs detections (last day)",
        caption="delay: first flagged reading after the fault began",
        box=box.SIMPLE_HEAD,
    )
    for column in ("Device", "Metric", "Fault", "Window (UTC)"):
        table.add_column(column, no_wrap=True)
    table.add_column("Result")
    rows = [(r, o) for r in result.series for o in r.evaluation.outcomes]
    for report, outcome in sorted(rows, key=lambda row: row[1].fault.start_ms):
        fault = outcome.fault
        window = f"{_hhmm(fault.start_ms)}\u2013{_hhmm(fault.end_ms)}"
        table.add_row(report.device.name, report.metric, fault.kind, window, _result(outcome))
    return table


def _result(outcome: FaultOutcome) -> Text:
    style = _STATUS_STYLE[outcome.status]
    if outcome.status == "caught":
        return Text.assemble(("caught", style), f" after {outcome.delay_minutes:.0f} min")
    if outcome.status == "unobservable":
        return Text.assemble(("missed", style), " (no readings to score)")
    return Text("missed", style=style)


def _series_table(series: tuple[SeriesReport, ...]) -> Table:
    grace = GRACE_MS // 60_000
    table = Table(
        title="Per series (last day)", show_footer=True, box=box.SIMPLE_HEAD,
        caption=f"false alarm: flagged outside every fault window and the {grace} min after it",
    )  # fmt: skip
    total = combine(r.evaluation for r in series)
    footers = ("all", "", f"{total.scored or 0:,}", f"{total.detections:,}",
               f"{total.false_alarms:,}", f"{total.caught}/{len(total.outcomes)}")  # fmt: skip
    for header, footer in zip(("Device", "Metric", "Scored", "Flagged", "False alarms", "Caught"),
                              footers, strict=True):  # fmt: skip
        table.add_column(
            header, footer, justify="left" if header in ("Device", "Metric") else "right"
        )
    for report, after in zip(series, (*series[1:], None), strict=True):
        ev = report.evaluation
        caught = f"{ev.caught}/{len(ev.outcomes)}" if ev.outcomes else "-"
        last_of_device = after is None or after.device.id != report.device.id
        table.add_row(report.device.name, report.metric, f"{ev.scored or 0:,}",
                      f"{ev.detections:,}", f"{ev.false_alarms:,}", caught,
                      end_section=last_of_device)  # fmt: skip
    return table


def _admin_panel(admin: AdminLogin) -> Panel:
    if admin.password is None:
        body = f"[bold]{admin.email}[/bold] already exists; its password is not shown again."
        return Panel(body, title="Demo admin", expand=False)
    body = (
        f"email     [bold]{admin.email}[/bold]\n"
        f"password  [bold yellow]{admin.password}[/bold yellow]\n"
        "[dim]shown only this once - save it now[/dim]"
    )
    return Panel(body, title="Demo admin", border_style="yellow", expand=False)


def _hhmm(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%H:%M")


def _print_try_it(result: DemoResult, host: str, port: int) -> None:
    shown = "127.0.0.1" if host in _ANY_ADDRESS else (f"[{host}]" if ":" in host else host)
    base = f"http://{shown}:{port}"
    device = result.devices[0]
    login = json.dumps(
        {"email": result.admin.email, "password": result.admin.password or "<password>"}
    )
    predict = json.dumps({"device_id": str(device.id), "metric_name": "temperature", "value": 45.0})
    lines = (
        f"TOKEN=$(curl -s -X POST {base}/api/v1/auth/login -H '{_JSON}' -d '{login}' "
        f"| python3 -c '{_READ_TOKEN}')",
        f'curl -s -X POST {base}/api/v1/ml/predict -H "Authorization: Bearer $TOKEN" '
        f"-H '{_JSON}' -d '{predict}'",
    )
    console.print(f"\nAPI docs: [bold]{escape(base)}/docs[/bold]")
    console.print(f"Score 45.0 °C for {device.name} (paste into another terminal):")
    for line in lines:
        # soft_wrap: a hard line break inside the command would break the paste.
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _serve(runtime: Runtime, host: str, port: int) -> None:
    configure_logging()
    # The runtime stays open_runtime's to close; the app only flushes usage on shutdown.
    run_server(runtime, host, port, own_runtime=False, access_log=False)
