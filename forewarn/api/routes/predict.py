"""Scoring: one reading, or many readings of one or many series (operators).

Readings are stored as telemetry and scored in time order with the series' recent history,
so a prediction is the same whether it arrives here, by ingest, or after a restart.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Response
from pydantic import TypeAdapter
from typing_extensions import TypedDict

from forewarn.api.deps import Operator, RuntimeDep, SessionDep
from forewarn.api.errors import in_body
from forewarn.errors import InvalidInputError
from forewarn.pipeline.predict import ReadingIn, SeriesIn, SeriesOut
from forewarn.schemas.ml import series_key
from forewarn.schemas.predict import (
    BatchPredictRequest,
    BatchPredictResponse,
    PredictRequest,
    PredictResponse,
    SeriesPrediction,
    SeriesValues,
)
from forewarn.scoring.scorer import Verdict, now_ms
from forewarn.telemetry.readings import check_batch_size

router = APIRouter(prefix="/ml", tags=["ml"], dependencies=[Operator])

_NO_MODEL: dict[int | str, dict[str, Any]] = {
    404: {"description": "The series has no active model"}
}


def _reading(item: PredictRequest, now: int, loc: tuple[str | int, ...]) -> ReadingIn:
    value = item.value if item.value is not None else dict(item.values or {})
    return ReadingIn(item.timestamp if item.timestamp is not None else now, value, loc)


def _response(out: SeriesOut, verdict: Verdict) -> PredictResponse:
    return PredictResponse(
        is_anomaly=verdict.is_anomaly,
        anomaly_score=verdict.score,
        threshold=out.model.threshold,
        model_id=out.model.id,
        model_version=out.model.version,
        warming_up=verdict.warming_up,
        explanation=verdict.explanation,
        anomalous=verdict.anomalous,
        event_id=verdict.event_id,
    )


@router.post(
    "/predict", response_model=PredictResponse, responses=_NO_MODEL, summary="Score one reading"
)
def predict_one(body: PredictRequest, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Store the reading, score it with the series' active model and recent history."""
    series = SeriesIn(body.device_id, series_key(body.metric_name),
                      [_reading(body, now_ms(), ("body",))])  # fmt: skip
    (out,) = runtime.pipeline.predict(session, [series])
    # Serialised here, once: the response model would validate the model it was given again.
    body_json = _response(out, out.verdicts[0]).model_dump_json()
    return Response(body_json, media_type="application/json")


@router.post(
    "/predict/batch",
    response_model=BatchPredictResponse,
    responses=_NO_MODEL,
    summary="Score many readings",
)
def predict_batch(
    body: BatchPredictRequest, session: SessionDep, runtime: RuntimeDep
) -> BatchPredictResponse | Response:
    """Score many readings in one call; a series without a model fails the whole batch."""
    total = len(body.items or []) + sum(len(s.values) for s in body.series or [])
    with in_body():
        check_batch_size(total, runtime.settings.max_predict_batch, unit="values")
    if body.series is not None:
        return _score_series(body.series, session, runtime)
    assert body.items is not None
    return _score_items(body.items, session, runtime)


def _columnar(index: int, s: SeriesValues, now: int) -> SeriesIn:
    if s.timestamps is None and len(s.values) > 1:
        raise InvalidInputError(
            ("body", "series", index, "timestamps"),
            "give one timestamp per value: readings are scored in time order and stored",
        )
    stamps = s.timestamps or [now]
    loc = ("body", "series", index)
    readings = [
        ReadingIn(ts, v, loc, j) for j, (ts, v) in enumerate(zip(stamps, s.values, strict=True))
    ]
    return SeriesIn(s.device_id, s.metric_name, readings)


def _score_series(
    series: list[SeriesValues], session: SessionDep, runtime: RuntimeDep
) -> BatchPredictResponse:
    now = now_ms()
    batch = [_columnar(i, s, now) for i, s in enumerate(series)]
    outs = runtime.pipeline.predict(session, batch)
    predictions = [
        SeriesPrediction(
            device_id=s.device_id,
            metric_name=s.metric_name,
            model_id=o.model.id,
            model_version=o.model.version,
            threshold=o.model.threshold,
            anomaly_scores=[v.score for v in o.verdicts],
            is_anomaly=[v.is_anomaly for v in o.verdicts],
            anomalous=[v.anomalous for v in o.verdicts],
            event_ids=[v.event_id for v in o.verdicts],
            explanations=[v.explanation for v in o.verdicts],
        )
        for s, o in zip(series, outs, strict=True)
    ]
    count = sum(len(o.verdicts) for o in outs)
    flagged = sum(v.is_anomaly for o in outs for v in o.verdicts)
    return BatchPredictResponse(series=predictions, count=count, anomaly_count=flagged)


def _score_items(items: list[PredictRequest], session: SessionDep, runtime: RuntimeDep) -> Response:
    now = now_ms()
    groups: dict[tuple[Any, str], list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[(item.device_id, series_key(item.metric_name))].append(index)
    batch = [
        SeriesIn(device, key, [_reading(items[i], now, ("body", "items", i)) for i in idx])
        for (device, key), idx in groups.items()
    ]
    outs = runtime.pipeline.predict(session, batch)
    results: list[_ItemResult | None] = [None] * len(items)
    for idx, out in zip(groups.values(), outs, strict=True):
        model_id, version, threshold = str(out.model.id), out.model.version, out.model.threshold
        for i, v in zip(idx, out.verdicts, strict=True):
            results[i] = {
                "is_anomaly": v.is_anomaly, "anomaly_score": v.score, "threshold": threshold,
                "model_id": model_id, "model_version": version, "warming_up": v.warming_up,
                "explanation": v.explanation, "anomalous": v.anomalous, "event_id": v.event_id,
            }  # fmt: skip
    flagged = sum(v.is_anomaly for o in outs for v in o.verdicts)
    body: _ItemsBody = {
        "results": results, "series": None, "count": len(results), "anomaly_count": flagged
    }  # fmt: skip
    # Plain dicts through a TypedDict adapter: building 100k response models doubled the time.
    return Response(_ITEMS_JSON.dump_json(body), media_type="application/json")


class _ItemResult(TypedDict):
    is_anomaly: bool
    anomaly_score: float
    threshold: float
    model_id: str
    model_version: int
    warming_up: bool
    explanation: dict[str, Any] | None
    anomalous: bool
    event_id: str | None


class _ItemsBody(TypedDict):
    results: list[_ItemResult | None]
    series: None
    count: int
    anomaly_count: int


_ITEMS_JSON = TypeAdapter(_ItemsBody)
