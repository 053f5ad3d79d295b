"""Predictions: readings named by series, stored and scored in time order with its active model.

The predict path (`POST /ml/predict[/batch]`): unlike ingest, every series must have an active
model, and each verdict is answered in the order the readings were given. The caller
(`ReadingPipeline.predict`) runs the stages and commits.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy.orm import Session

from forewarn.errors import InvalidInputError
from forewarn.pipeline.stages import ScoredSeries
from forewarn.scoring.registry import ActiveModel, ModelRegistry
from forewarn.scoring.scorer import Scorer, Value, Verdict, Work
from forewarn.scoring.series_state import Previous
from forewarn.telemetry.store import Row, storing, upsert_with_previous

Loc = tuple[str | int, ...]


class ReadingIn(NamedTuple):
    """One reading to score: one value, or one value per metric for device-level models.

    `where` and `position` say where it sits in the request (an item, or one position of a
    columnar series); error locations are built from them only when needed.
    """

    ts: int
    value: float | dict[str, float]
    where: Loc
    position: int = -1

    @property
    def value_loc(self) -> Loc:
        """The request location of the value."""
        if self.position >= 0:
            return (*self.where, "values", self.position)
        return (*self.where, "value" if isinstance(self.value, float | int) else "values")

    @property
    def time_loc(self) -> Loc:
        """The request location of the timestamp."""
        if self.position >= 0:
            return (*self.where, "timestamps", self.position)
        return (*self.where, "timestamp")


@dataclass(frozen=True)
class SeriesIn:
    """Readings of one series key (a metric, "*" or a metric list) of one device."""

    device_id: uuid.UUID
    metric_name: str
    readings: Sequence[ReadingIn]


@dataclass(frozen=True)
class SeriesOut:
    """The model used and a verdict per reading, in the order they were given."""

    model: ActiveModel
    verdicts: list[Verdict]


def predict(
    session: Session, registry: ModelRegistry, scorer: Scorer, batch: Sequence[SeriesIn]
) -> tuple[list[SeriesOut], list[ScoredSeries]]:
    """Store and score every reading in the session's transaction (not committed); the
    verdicts in request order, and the same series in time order for the stages."""
    models = [registry.active(session, s.device_id, s.metric_name) for s in batch]
    _check_each_model_once(batch, models)
    prepared = [_prepare(s, m) for s, m in zip(batch, models, strict=True)]
    connection = session.connection()
    rows = [row for p in prepared for row in p.rows]
    if len(rows) == 1 and connection.dialect.name == "postgresql":
        # A single reading on PostgreSQL learns its predecessor while it is stored.
        (only,) = prepared
        with scorer.holding([only.model]):
            previous = Previous(upsert_with_previous(connection, rows[0]))
            verdicts = scorer.score_many(session, [Work(only.model, only.inputs, previous)])
    else:
        # Times are distinct within a series (checked); only two series of one device (a
        # metric's model and a device-level one) can share rows.
        stored = storing(connection, rows, unique=len(prepared) == 1)
        work = [Work(p.model, p.inputs) for p in prepared]
        verdicts = scorer.score_many(session, work, during=stored)
    outs = [_in_request_order(p, v) for p, v in zip(prepared, verdicts, strict=True)]
    scored = [ScoredSeries(p.model, p.inputs, v) for p, v in zip(prepared, verdicts, strict=True)]
    return outs, scored


def _check_each_model_once(batch: Sequence[SeriesIn], models: list[ActiveModel]) -> None:
    first: dict[uuid.UUID, int] = {}
    for index, model in enumerate(models):
        earlier = first.setdefault(model.id, index)
        if earlier != index:
            raise InvalidInputError(
                batch[index].readings[0].where,
                f"this series was already given at position {earlier}; send each series once",
            )


@dataclass(frozen=True)
class _Prepared:
    model: ActiveModel
    order: list[int]  # reading positions sorted by time
    inputs: Sequence[tuple[int, Value]]
    rows: list[Row]


def _prepare(series: SeriesIn, model: ActiveModel) -> _Prepared:
    readings = series.readings
    order = sorted(range(len(readings)), key=lambda i: readings[i].ts)
    _check_distinct_times(readings, order)
    device = model.device_id
    if not model.multivariate:  # the common case, kept to one cheap pass
        scalar = [(readings[i].ts, _scalar(readings[i])) for i in order]
        rows = [Row(device, model.metric_name, t, v) for t, v in scalar]
        return _Prepared(model, order, scalar, rows)
    inputs = [(readings[i].ts, _vector(model, readings[i])) for i in order]
    rows = [
        Row(device, metric, ts, value)
        for ts, values in inputs
        for metric, value in zip(model.metrics, values, strict=True)
    ]
    return _Prepared(model, order, inputs, rows)


def _check_distinct_times(readings: Sequence[ReadingIn], order: list[int]) -> None:
    for before, after in itertools.pairwise(order):
        if readings[before].ts == readings[after].ts:
            raise InvalidInputError(
                readings[after].time_loc,
                "two readings of one series have the same time; give each reading its "
                "timestamp so they can be scored in order",
            )


def _scalar(reading: ReadingIn) -> float:
    value = reading.value
    if type(value) is float:  # the hot path: nothing to convert
        return value
    if not isinstance(value, float | int):
        raise InvalidInputError(reading.value_loc, "this series takes one `value`")
    return float(value)


def _vector(model: ActiveModel, reading: ReadingIn) -> list[float]:
    if not isinstance(reading.value, dict):
        raise InvalidInputError(reading.value_loc, "a device-level model takes `values`")
    missing = [m for m in model.metrics if m not in reading.value]
    if missing:
        raise InvalidInputError(reading.value_loc, f"missing {', '.join(missing)}")
    return [float(reading.value[m]) for m in model.metrics]


def _in_request_order(prepared: _Prepared, in_time_order: list[Verdict]) -> SeriesOut:
    verdicts: list[Verdict] = [in_time_order[0]] * len(in_time_order)
    for position, verdict in zip(prepared.order, in_time_order, strict=True):
        verdicts[position] = verdict
    return SeriesOut(prepared.model, verdicts)
