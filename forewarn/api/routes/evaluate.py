"""Backtesting over HTTP: replay labelled series with a detector and score it (operators)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import numpy as np
from fastapi import APIRouter
from sqlalchemy.orm import Session

from forewarn.api.deps import Operator, SessionDep
from forewarn.errors import InvalidInputError
from forewarn.evaluation.backtest import report_to_dict, run_backtest
from forewarn.evaluation.corpus import LabelledSeries
from forewarn.evaluation.nab import EvaluationError
from forewarn.schemas.evaluation import (
    MAX_EVALUATE_ROWS,
    MIN_SERIES_ROWS,
    EvaluateRequest,
    EvaluateResponse,
    LabelledSeriesIn,
)
from forewarn.services.devices import get_device
from forewarn.telemetry.query import read_series

router = APIRouter(prefix="/ml", tags=["ml"], dependencies=[Operator])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown device (stored-telemetry form)"},
    422: {"description": "Invalid field, unknown algorithm, too few or too many rows"},
}


def _inline(series: LabelledSeriesIn) -> LabelledSeries:
    """A request series as the evaluation package's type."""
    parts = PurePosixPath(series.name).parts
    return LabelledSeries(
        name=series.name,
        category=parts[-2] if len(parts) > 1 else "",
        ts_ms=np.asarray(series.timestamps, dtype=np.int64),
        values=np.asarray(series.values, dtype=np.float64),
        windows_ms=tuple((start, end) for start, end in series.windows),
    )


def _stored(session: Session, body: EvaluateRequest) -> LabelledSeries:
    """One stored series between start and end, with the request's windows."""
    assert body.device_id and body.metric_name and body.start is not None and body.end is not None
    get_device(session, body.device_id)
    ts, values = read_series(session, body.device_id, body.metric_name, body.start, body.end)
    session.close()  # release the connection before the CPU-bound replay
    if not MIN_SERIES_ROWS <= len(ts) <= MAX_EVALUATE_ROWS:
        raise InvalidInputError(
            ("body", "start"),
            f"{len(ts):,} readings of {body.metric_name} between start and end; "
            f"{MIN_SERIES_ROWS} to {MAX_EVALUATE_ROWS:,} are needed",
        )
    windows = tuple((start, end) for start, end in body.windows or [])
    return LabelledSeries(
        f"{body.device_id}/{body.metric_name}", str(body.device_id), ts, values, windows
    )


@router.post(
    "/evaluate",
    response_model=EvaluateResponse,
    responses=_RESPONSES,
    summary="Backtest a detector on labelled series",
)
def evaluate(body: EvaluateRequest, session: SessionDep) -> EvaluateResponse:
    """Replay without look-ahead; NAB at the optimal threshold and at shipped, plus events."""
    corpus = [_inline(s) for s in body.series] if body.series else [_stored(session, body)]
    try:
        report = run_backtest(corpus, body.algorithm, body.params)
    except EvaluationError as err:  # e.g. no window holds a scorable row
        field = "series" if body.series else "windows"
        raise InvalidInputError(("body", field), str(err)) from err
    except InvalidInputError as err:  # about the algorithm, else about its parameters
        field = "algorithm" if err.loc[:1] == ("algorithm",) else "params"
        raise InvalidInputError(("body", field), err.message) from err
    return EvaluateResponse.model_validate(report_to_dict(report))
