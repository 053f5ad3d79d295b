"""With auto-tuning on, retraining fits the ensemble at the level its false positives suggest."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from forewarn.db.models import AnomalyDetection, AnomalyFeedback, MLModel
from forewarn.db.types import utcnow
from forewarn.detection.likelihood import D_HALF
from forewarn.lifecycle.retrain import retrain_series
from forewarn.runtime import Runtime
from tests.factories import (
    DAY_ROWS,
    T0,
    Headers,
    make_device,
    normal_readings,
    store_readings,
    trained_model,
)


def _false_positive(runtime: Runtime, model_id: uuid.UUID, score: float, ts: int) -> None:
    """An anomaly of the model at `score`, labelled false positive by an operator."""
    with runtime.sessions() as session:
        model = session.get(MLModel, model_id)
        assert model is not None and score > model.threshold
        anomaly = AnomalyDetection(
            model_id=model_id, device_id=model.device_id, metric_name=model.metric_name,
            value=26.0, anomaly_score=score, threshold=model.threshold, ts=ts, detected_at=utcnow(),
        )  # fmt: skip
        session.add(anomaly)
        session.flush()
        session.add(AnomalyFeedback(anomaly_id=anomaly.id, label="false_positive"))
        session.commit()


@pytest.mark.parametrize(
    "auto_tune",
    [False, pytest.param(True, marks=pytest.mark.lifecycle_settings(auto_tune_thresholds=True))],
)
def test_the_ensemble_is_refitted_with_the_suggested_decades(
    runtime: Runtime, client: TestClient, operator: Headers, auto_tune: bool
) -> None:
    device = make_device(runtime)
    week = normal_readings(5 * DAY_ROWS, start=T0)
    store_readings(runtime, device, week)
    champion = trained_model(client, operator, device, algorithm="ensemble", n_estimators=None)
    model_id = uuid.UUID(champion["id"])
    _false_positive(runtime, model_id, 0.6, int(week.ts[-10]))
    assert runtime.settings.auto_tune_thresholds is auto_tune
    outcome = retrain_series(runtime.retrainer, model_id)
    assert outcome.evaluation is not None
    decades = outcome.evaluation["params"].get("decades")
    if auto_tune:
        assert decades == pytest.approx(D_HALF * 0.6 / 0.4)  # the level of the false positive
        assert decades > champion["parameters"]["decades"]
    else:
        assert decades == champion["parameters"]["decades"]
