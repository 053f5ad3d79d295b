"""Schemas of MQTT ingest: dead letters (messages that could not be stored)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class DeadLetterBase(BaseModel):
    """A refused message: where it came from, what it held and why it was refused."""

    kind: str = Field(description="Reason class, e.g. bad_json, bad_value, unknown_device.")
    topic: str = Field(description="The MQTT topic (first 256 characters).")
    payload_excerpt: str = Field(description="The first 512 bytes of the payload, as text.")
    reason: str = Field(description="What is wrong, naming the field.")
    received_at: datetime


class DeadLetterPublic(DeadLetterBase):
    """A stored dead letter."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b8f3c2e-5a1d-4e7b-9c6f-2d4e6f8a0b1c",
                    "kind": "bad_value",
                    "topic": "forewarn/v1/devices/3f2b8c1e-8a4d-4e0b-9f6a-2c5d7e9a1b3c/telemetry",
                    "payload_excerpt": '{"ts": 1730000000000, "values": {"temperature": NaN}}',
                    "reason": "values.temperature: NaN is not a finite number",
                    "received_at": "2026-11-26T09:12:44.120Z",
                }
            ]
        }
    )

    id: uuid.UUID


class DeadLetterPage(BaseModel):
    """A page of dead letters and the total matching the filters."""

    data: list[DeadLetterPublic]
    count: int
    limit: int
    offset: int
