"""Score stored readings with every active model of their device, in time order.

The ingest path (HTTP telemetry, MQTT, CSV): readings arrive by device, not by series, so
each active model of a device takes the batch's readings of its metrics (a device-level model
only the times at which all of its metrics have a value).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session

from forewarn.pipeline.stages import ScoredSeries
from forewarn.scoring.registry import ActiveModel, ModelRegistry
from forewarn.scoring.scorer import Scorer, Value, Work
from forewarn.scoring.series_state import Previous, combine_previous
from forewarn.telemetry.query import latest_before_each
from forewarn.telemetry.store import Row


def score_stored(
    session: Session,
    registry: ModelRegistry,
    scorer: Scorer,
    by_device: Mapping[uuid.UUID, Sequence[Row]],
    during: AbstractContextManager[object] | None = None,
) -> list[ScoredSeries]:
    """Score the devices' rows with their active models, with one query for where every
    state must stand; the series that had readings, with their verdicts.

    The rows are stored by the caller, before this call or by `during` (see `Scorer.score_many`).
    """
    work = [
        (model, _model_readings(model, _by_metric(rows)))
        for device_id, rows in by_device.items()
        for model in registry.device_models(session, device_id)
    ]
    work = [(model, readings) for model, readings in work if readings]
    jobs = [
        Work(model, readings, previous)
        for (model, readings), previous in zip(work, _previous(session, work), strict=True)
    ]
    verdicts = scorer.score_many(session, jobs, during)
    return [
        ScoredSeries(job.model, job.readings, series)
        for job, series in zip(jobs, verdicts, strict=True)
    ]


def _by_metric(rows: Sequence[Row]) -> dict[str, dict[int, float]]:
    by_metric: dict[str, dict[int, float]] = defaultdict(dict)
    for row in rows:
        by_metric[row.metric_name][row.ts] = row.value
    return by_metric


def _previous(
    session: Session, work: list[tuple[ActiveModel, list[tuple[int, Value]]]]
) -> list[Previous]:
    """The stored reading before each model's first one (device-level: every metric's)."""
    wanted = [
        (model.device_id, metric, readings[0][0])
        for model, readings in work
        for metric in model.metrics
    ]
    found = iter(latest_before_each(session, wanted))
    return [Previous(combine_previous([next(found) for _ in model.metrics])) for model, _ in work]


def _model_readings(
    model: ActiveModel, by_metric: dict[str, dict[int, float]]
) -> list[tuple[int, Value]]:
    """The batch's readings of a model, in time order; device-level ones aligned in time."""
    columns = [by_metric.get(metric, {}) for metric in model.metrics]
    shared = set(columns[0]).intersection(*columns[1:])
    if len(columns) == 1:
        return [(ts, columns[0][ts]) for ts in sorted(shared)]
    return [(ts, [column[ts] for column in columns]) for ts in sorted(shared)]
