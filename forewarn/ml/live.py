"""Score readings as they are ingested, with every active model of their device."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.orm import Session

from forewarn.ml.registry import ActiveModel, ModelRegistry
from forewarn.ml.scoring import Scorer, Value
from forewarn.telemetry.store import Row


def score_ingested(
    session: Session,
    registry: ModelRegistry,
    scorer: Scorer,
    device_id: uuid.UUID,
    rows: Sequence[Row],
) -> tuple[int, int]:
    """Score stored-but-uncommitted rows; returns (readings scored, anomalies found)."""
    models = registry.device_models(session, device_id)
    if not models:
        return 0, 0
    by_metric: dict[str, dict[int, float]] = defaultdict(dict)
    for row in rows:
        by_metric[row.metric_name][row.ts] = row.value
    scored = flagged = 0
    for model in models:
        readings = _model_readings(model, by_metric)
        verdicts = scorer.score_series(session, model, readings)
        scored += len(verdicts)
        flagged += sum(v.is_anomaly for v in verdicts)
    return scored, flagged


def _model_readings(
    model: ActiveModel, by_metric: dict[str, dict[int, float]]
) -> list[tuple[int, Value]]:
    """The batch's readings of a model, in time order; device-level ones aligned in time."""
    columns = [by_metric.get(metric, {}) for metric in model.metrics]
    shared = set(columns[0]).intersection(*columns[1:])
    if len(columns) == 1:
        return [(ts, columns[0][ts]) for ts in sorted(shared)]
    return [(ts, [column[ts] for column in columns]) for ts in sorted(shared)]
