"""The detection algorithms a model can be trained with (everyone)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from forewarn.api.deps import AnyUser
from forewarn.detection.params import plain
from forewarn.detection.registry import ALGORITHMS, DEFAULT_ALGORITHM, DEVICE_ALGORITHM
from forewarn.schemas.common import Page

router = APIRouter(prefix="/ml/algorithms", tags=["ml"], dependencies=[AnyUser])


class AlgorithmPublic(BaseModel):
    """One algorithm: its name for `algorithm` in a train request, and what it does."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "isolation_forest",
                    "description": "Isolation Forest on each reading's value alone.",
                    "multivariate": True,
                    "default": False,
                    "parameters": ["contamination", "max_samples", "n_estimators"],
                    "defaults": {
                        "n_estimators": 100,
                        "contamination": 0.01,
                        "max_samples": "auto",
                    },
                }
            ]
        }
    )

    name: str
    description: str
    multivariate: bool
    default: bool  # the default for a series of one metric
    device_default: bool  # the default for a device-level model (several metrics)
    parameters: list[str]
    defaults: dict[str, Any]  # what a train or evaluate request that sets none gets
    min_readings: int  # training refuses a shorter history (422 naming this minimum)


@router.get("", response_model=Page[AlgorithmPublic], summary="List algorithms")
def list_algorithms() -> Page[AlgorithmPublic]:
    """Every registered algorithm; `default` marks the one used when a request names none."""
    data = [
        AlgorithmPublic(
            name=spec.name,
            description=spec.description,
            multivariate=spec.multivariate,
            default=spec.name == DEFAULT_ALGORITHM,
            device_default=spec.name == DEVICE_ALGORITHM,
            parameters=sorted(spec.parameters),
            defaults=plain(spec.defaults),
            min_readings=spec.min_readings,
        )
        for spec in ALGORITHMS
    ]
    return Page(data=data, count=len(data))
