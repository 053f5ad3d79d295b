"""Device schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Kind = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Location = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class DeviceBase(BaseModel):
    """What describes a device."""

    name: Name
    type: Kind
    location: Location | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class DeviceCreate(DeviceBase):
    """A device to register."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Temperature Sensor 01",
                    "type": "environmental",
                    "location": "Hall A",
                    "metadata": {"vendor": "Bosch", "model": "BME280"},
                }
            ]
        }
    )


class DeviceUpdate(BaseModel):
    """Changes to a device; omitted fields stay as they are (only location may be null)."""

    name: Name | None = None
    type: Kind | None = None
    location: Location | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("name", "type", "metadata")
    @classmethod
    def _not_null(cls, value: object, info: ValidationInfo) -> object:
        if value is None:
            raise ValueError(f"{info.field_name} cannot be null; omit it to keep the current value")
        return value


class DevicePublic(DeviceBase):
    """A device as the API shows it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3f2b8c1e-8a4d-4e0b-9f6a-2c5d7e9a1b3c",
                    "name": "Temperature Sensor 01",
                    "type": "environmental",
                    "location": "Hall A",
                    "metadata": {"vendor": "Bosch", "model": "BME280"},
                    "created_at": "2026-11-26T08:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    created_at: datetime
