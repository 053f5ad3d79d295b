"""Device registry: everyone reads, admins manage."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from forewarn.api.deps import Admin, AnyUser, RuntimeDep, SessionDep
from forewarn.lifecycle.catalog import purge_device_artifacts
from forewarn.schemas.common import Page
from forewarn.schemas.devices import DeviceCreate, DevicePublic, DeviceUpdate
from forewarn.services import devices

router = APIRouter(prefix="/devices", tags=["devices"])


@router.get("", response_model=Page[DevicePublic], dependencies=[AnyUser], summary="List devices")
def list_devices(
    session: SessionDep,
    name: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[DevicePublic]:
    """Registered devices, oldest first; `name` filters by exact name."""
    rows, total = devices.list_devices(session, limit, offset, name)
    return Page(data=[devices.to_public(r) for r in rows], count=total)


@router.post(
    "",
    response_model=DevicePublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Admin],
    summary="Register a device",
)
def create_device(body: DeviceCreate, session: SessionDep) -> DevicePublic:
    """Register a device; the response carries its id."""
    return devices.to_public(devices.create_device(session, body))


@router.get(
    "/{device_id}", response_model=DevicePublic, dependencies=[AnyUser], summary="Get a device"
)
def get_device(device_id: uuid.UUID, session: SessionDep) -> DevicePublic:
    """One device."""
    return devices.to_public(devices.get_device(session, device_id))


@router.patch(
    "/{device_id}", response_model=DevicePublic, dependencies=[Admin], summary="Update a device"
)
def update_device(device_id: uuid.UUID, body: DeviceUpdate, session: SessionDep) -> DevicePublic:
    """Change name, type, location or metadata."""
    return devices.to_public(devices.update_device(session, device_id, body))


@router.delete(
    "/{device_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Admin],
    summary="Delete a device",
)
def delete_device(device_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep) -> None:
    """Remove a device with its telemetry, models (and their files) and anomalies."""
    devices.delete_device(session, device_id)
    purge_device_artifacts(runtime.registry, device_id)
