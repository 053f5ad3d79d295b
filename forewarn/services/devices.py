"""Device registry."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from forewarn.db.models import Device, Telemetry
from forewarn.errors import NotFoundError
from forewarn.schemas.devices import DeviceCreate, DevicePublic, DeviceUpdate


def to_public(device: Device) -> DevicePublic:
    """The API view of a device row."""
    return DevicePublic(
        id=device.id,
        name=device.name,
        type=device.type,
        location=device.location,
        metadata=device.metadata_ or {},
        created_at=device.created_at,
    )


def create_device(session: Session, data: DeviceCreate) -> Device:
    """Register a device."""
    device = Device(name=data.name, type=data.type, location=data.location, metadata_=data.metadata)
    session.add(device)
    session.commit()
    return device


def get_device(session: Session, device_id: uuid.UUID) -> Device:
    """One device by id, or NotFoundError."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFoundError("device", device_id)
    return device


def list_devices(
    session: Session, limit: int, offset: int, name: str | None = None
) -> tuple[list[Device], int]:
    """A page of devices (optionally filtered by exact name) and the total."""
    query = select(Device)
    if name is not None:
        query = query.where(Device.name == name)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Device.created_at, Device.id).limit(limit).offset(offset))
    return list(rows), total


def update_device(session: Session, device_id: uuid.UUID, data: DeviceUpdate) -> Device:
    """Change the given fields of a device."""
    device = get_device(session, device_id)
    changes = data.model_dump(exclude_unset=True)
    for field in ("name", "type"):
        if changes.get(field) is not None:
            setattr(device, field, changes[field])
    if "location" in changes:
        device.location = changes["location"]
    if changes.get("metadata") is not None:
        device.metadata_ = changes["metadata"]
    session.commit()
    return device


def delete_device(session: Session, device_id: uuid.UUID) -> None:
    """Remove a device with its telemetry, models and anomalies.

    The device row goes first: on PostgreSQL that waits for transactions still writing its
    readings (they hold KEY SHARE locks on it, see `telemetry.store`), so the telemetry
    deleted next includes theirs. Models and anomalies follow by foreign-key cascade.
    """
    session.delete(get_device(session, device_id))
    session.flush()
    session.execute(delete(Telemetry).where(Telemetry.device_id == device_id))
    session.commit()
