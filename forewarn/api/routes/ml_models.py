"""Model versions: train (operators), list/get (everyone), retire (operators)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from forewarn.api.deps import AnyUser, Operator, RuntimeDep, SessionDep
from forewarn.errors import InvalidInputError
from forewarn.lifecycle import catalog
from forewarn.lifecycle.training import TrainSpec, choose_algorithm, train_model
from forewarn.schemas.common import MetricName, Page
from forewarn.schemas.ml import ModelPublic, TrainRequest, series_key

router = APIRouter(prefix="/ml/models", tags=["ml"])

# TrainSpec fields named differently in the request.
_REQUEST_FIELDS = {"window_days": "training_window_days", "end_ms": "training_end"}


def _in_request(err: InvalidInputError) -> InvalidInputError:
    """A training error located in the request body; `params` is named as a whole."""
    head, *rest = err.loc or ("",)
    field = _REQUEST_FIELDS.get(str(head), head)
    loc = ("body", field) if field == "params" else ("body", field, *rest)
    return InvalidInputError(loc, err.message)


@router.post(
    "/train",
    response_model=ModelPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Operator],
    summary="Train a model for a series",
    responses={
        404: {"description": "Unknown device"},
        422: {"description": "Invalid field, or too few readings in the window"},
    },
)
def train(body: TrainRequest, session: SessionDep, runtime: RuntimeDep) -> ModelPublic:
    """Fit on the window's readings; the new version becomes the series' active model."""
    forest_given = body.contamination is not None or body.n_estimators is not None
    try:
        key = series_key(body.metric_name)
        spec = TrainSpec(
            device_id=body.device_id,
            metric_name=key,
            window_days=body.training_window_days,
            end_ms=body.training_end,
            algorithm=choose_algorithm(
                body.algorithm, forest_options_given=forest_given, metric_name=key
            ),
            contamination=body.contamination,
            n_estimators=body.n_estimators,
            params=body.params,
        )
        model = train_model(session, runtime.registry, runtime.artifact_key, spec)
    except InvalidInputError as err:
        raise _in_request(err) from err
    return ModelPublic.model_validate(model)


@router.get("", response_model=Page[ModelPublic], dependencies=[AnyUser], summary="List models")
def list_models(
    session: SessionDep,
    runtime: RuntimeDep,
    device_id: uuid.UUID | None = None,
    metric_name: Annotated[MetricName | None, Query()] = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[ModelPublic]:
    """Model versions, newest first, filtered by series and activity."""
    runtime.usage.flush()
    flt = catalog.ModelFilter(device_id, metric_name, active)
    rows, total = catalog.list_models(session, flt, limit, offset)
    return Page(data=[ModelPublic.model_validate(r) for r in rows], count=total)


@router.get(
    "/{model_id}", response_model=ModelPublic, dependencies=[AnyUser], summary="Get a model"
)
def get_model(model_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep) -> ModelPublic:
    """One model version with its usage counters."""
    runtime.usage.flush()
    return ModelPublic.model_validate(catalog.get_model(session, model_id))


@router.delete(
    "/{model_id}", response_model=ModelPublic, dependencies=[Operator], summary="Deactivate a model"
)
def delete_model(
    model_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    purge: Annotated[bool, Query(description="Also delete the artifact file")] = False,
) -> ModelPublic:
    """Deactivate a version (the series then has no active model until retrained)."""
    model = catalog.retire_model(session, runtime.registry, model_id, purge)
    runtime.scorer.forget(model_id)
    return ModelPublic.model_validate(model)
