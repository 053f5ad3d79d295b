"""`forewarn simulate`: a fleet of simulated sensors publishing live over MQTT or HTTP."""

from __future__ import annotations

import csv
import json
import math
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from forewarn.cli.common import configure_logging, console, err_console, open_runtime
from forewarn.errors import ForewarnError, InvalidInputError, PublishError
from forewarn.schemas.devices import DeviceCreate
from forewarn.services.devices import create_device, list_devices
from forewarn.sim import profile_by_name
from forewarn.sim.fleet import SimPlan
from forewarn.sim.publisher import PublishStats, publish
from forewarn.sim.transports import HttpTransport, MqttTransport, Transport

DEVICE_TYPE = "simulated"
LOCATIONS = ("Hall A", "Hall B", "Hall C", "Yard")
_STATS = (
    "{task.fields[rate]:,.0f} readings/s | {task.fields[messages]:,} msgs, "
    "{task.fields[readings]:,} readings | acked {task.fields[acked]:,} | "
    "errors {task.fields[errors]:,}"
)


class TransportKind(StrEnum):
    """How the simulator delivers its messages."""

    MQTT = "mqtt"
    HTTP = "http"


def device_spec(plan: SimPlan, index: int, prefix: str) -> DeviceCreate:
    """The registration of simulated device `index` (0-based): name, type, location, metrics."""
    metrics = {p.name: {"unit": p.unit, "low": p.low, "high": p.high} for p in plan.metrics}
    return DeviceCreate(
        name=f"{prefix} {index + 1:04d}", type=DEVICE_TYPE, location=LOCATIONS[index % 4],
        metadata={"simulated": True, "metrics": metrics},
    )  # fmt: skip


def register_in_database(specs: list[DeviceCreate]) -> list[uuid.UUID]:
    """Find each device by name in the configured database, or create it."""
    ids = []
    with open_runtime() as runtime, runtime.sessions() as session:
        for spec in specs:
            found, _ = list_devices(session, 1, 0, spec.name)
            ids.append(found[0].id if found else create_device(session, spec).id)
    return ids


def register_through_api(api: HttpTransport, specs: list[DeviceCreate]) -> list[uuid.UUID]:
    """Find each device by name through the API, or create it (creating needs an admin)."""
    ids = []
    for spec in specs:
        status, body = api.request("GET", f"/api/v1/devices?name={quote(spec.name)}&limit=1")
        if status == 200 and json.loads(body)["data"]:
            ids.append(uuid.UUID(json.loads(body)["data"][0]["id"]))
            continue
        if status == 200:
            status, body = api.request("POST", "/api/v1/devices", spec.model_dump_json().encode())
        if status not in (200, 201):
            raise PublishError(f"registering {spec.name!r}: API answered {status}: {body[:200]!r}")
        ids.append(uuid.UUID(json.loads(body)["id"]))
    return ids


def write_faults(path: Path, stats: PublishStats, ids: list[uuid.UUID], names: list[str]) -> None:
    """The injected faults as CSV: device, metric, kind, window (ms and ISO, inclusive)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["device_id", "device_name", "metric", "kind", "start_ms", "end_ms",
                         "start", "end", "description"])  # fmt: skip
        for record in stats.faults:
            f = record.fault
            writer.writerow([ids[record.device], names[record.device], f.metric, f.kind,
                             f.start_ms, f.end_ms, _iso(f.start_ms), _iso(f.end_ms),
                             f.description])  # fmt: skip


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="milliseconds")


def _plan(
    devices: int, rate: float, metrics: str, readings_per_message: int, faults: bool,
    fault_rate: float, fault_kinds: str | None, seed: int,
) -> SimPlan:  # fmt: skip
    try:
        profiles = tuple(profile_by_name(name.strip()) for name in metrics.split(","))
    except ValueError as err:
        raise InvalidInputError(("metrics",), str(err)) from err
    kinds = {} if fault_kinds is None else {"fault_kinds": tuple(fault_kinds.split(","))}
    return SimPlan(
        devices=devices, rate=rate, metrics=profiles, readings_per_message=readings_per_message,
        faults=faults, fault_rate=fault_rate, seed=seed, **kinds,
    )  # fmt: skip


def _progress(duration: float | None) -> Progress:
    columns = [TimeElapsedColumn(), TextColumn(_STATS)]
    if duration is not None:
        columns.insert(1, BarColumn())
    return Progress(*columns, console=console, transient=False)


def _run(
    plan: SimPlan, ids: list[uuid.UUID], transport: Transport, duration: float | None,
    count: int | None,
) -> PublishStats:  # fmt: skip
    with _progress(duration) as progress:
        task = progress.add_task("publish", total=duration, rate=0.0, messages=0, readings=0,
                                 acked=0, errors=0)  # fmt: skip

        def show(s: PublishStats) -> None:
            progress.update(task, completed=s.elapsed_s, rate=s.readings_per_s,
                            messages=s.messages, readings=s.readings, acked=s.acked,
                            errors=s.errors)  # fmt: skip

        forever = duration is None and count is None
        stats = publish(plan, ids, transport, duration_s=math.inf if forever else duration,
                        count=count, on_progress=show)  # fmt: skip
        show(stats)
    return stats


def _summary(stats: PublishStats, ids: list[uuid.UUID], names: list[str]) -> None:
    console.print(
        f"sent {stats.messages:,} messages / {stats.readings:,} readings in "
        f"{stats.elapsed_s:.1f} s ({stats.readings_per_s:,.0f} readings/s); "
        f"acked {stats.acked:,}, errors {stats.errors:,}, faults injected {len(stats.faults)}",
        highlight=False,
    )
    if not stats.faults:
        return
    table = Table("device", "metric", "kind", "from", "to", title="injected faults (first 20)")
    for record in stats.faults[:20]:
        f = record.fault
        table.add_row(names[record.device], f.metric, f.kind, _iso(f.start_ms), _iso(f.end_ms))
    console.print(table)


def simulate(
    devices: Annotated[int, typer.Option(min=1, help="Simulated devices")] = 10,
    rate: Annotated[
        float, typer.Option(help="Readings (metric values) per second, in total")
    ] = 30.0,
    faults: Annotated[bool, typer.Option("--faults", help="Inject labelled faults")] = False,
    transport: Annotated[TransportKind, typer.Option(help="mqtt or http")] = TransportKind.MQTT,
    duration: Annotated[float | None, typer.Option(min=0, help="Stop after S seconds")] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after N messages")] = None,
    qos: Annotated[int, typer.Option(min=0, max=2, help="MQTT quality of service")] = 1,
    readings_per_message: Annotated[
        int, typer.Option(help="1, one metric per message; M, a device's metrics; n*M, n samples")
    ] = 3,
    metrics: Annotated[str, typer.Option(help="Metrics of each device")] = (
        "temperature,humidity,pressure"
    ),
    fault_rate: Annotated[
        float, typer.Option(help="Chance of a fault per series per 480 samples")
    ] = 0.25,
    fault_kinds: Annotated[str | None, typer.Option(help="Only these kinds (comma list)")] = None,
    faults_out: Annotated[
        Path | None, typer.Option(help="Write the injected faults as CSV")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the signals and faults")] = 0,
    name_prefix: Annotated[str, typer.Option(help="Device names: PREFIX 0001 ...")] = "Sim Sensor",
    mqtt_url: Annotated[str, typer.Option(envvar="FOREWARN_MQTT_URL", help="Broker")] = (
        "mqtt://127.0.0.1:1883"
    ),
    topic_root: Annotated[
        str,
        typer.Option(envvar="FOREWARN_MQTT_TOPIC_ROOT", help="Topics: ROOT/devices/ID/telemetry"),
    ] = "forewarn/v1",
    api_url: Annotated[str, typer.Option(envvar="FOREWARN_API_URL", help="API base URL")] = (
        "http://127.0.0.1:8000"
    ),
    token: Annotated[
        str | None, typer.Option(envvar="FOREWARN_API_TOKEN", help="Bearer token (http)")
    ] = None,
) -> None:
    """Register simulated devices and publish their readings live at a steady total rate."""
    configure_logging()
    try:
        plan = _plan(devices, rate, metrics, readings_per_message, faults, fault_rate,
                     fault_kinds, seed)  # fmt: skip
        specs = [device_spec(plan, i, name_prefix) for i in range(devices)]
        names = [spec.name for spec in specs]
        sender = _connect(transport, specs, mqtt_url, topic_root, api_url, token, qos)
        ids = sender[1]
        for device_id, name in zip(ids, names, strict=True):
            console.print(f"{device_id}  {name}", highlight=False)
        stats = _run(plan, ids, sender[0], duration, count)
    except InvalidInputError as err:
        err_console.print(f"[red]--{str(err.loc[-1]).replace('_', '-')}: {err.message}[/red]")
        raise typer.Exit(2) from err
    except ForewarnError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(1) from err
    _summary(stats, ids, names)
    if faults_out is not None:
        write_faults(faults_out, stats, ids, names)
        console.print(f"faults written to {faults_out}")
    if stats.errors or stats.acked < stats.messages:
        raise typer.Exit(1)


def _connect(
    kind: TransportKind, specs: list[DeviceCreate], mqtt_url: str, topic_root: str,
    api_url: str, token: str | None, qos: int,
) -> tuple[Transport, list[uuid.UUID]]:  # fmt: skip
    """Register the devices where the readings go, then open the transport."""
    if kind is TransportKind.HTTP:
        if not token:
            raise InvalidInputError(("token",), "the http transport needs an API token")
        api = HttpTransport(api_url, token)
        return api, register_through_api(api, specs)
    ids = register_in_database(specs)
    return MqttTransport(mqtt_url, qos=qos, root=topic_root), ids
