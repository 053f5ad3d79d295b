"""Train a model for one series and make it the active version."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forewarn.db.models import MLModel
from forewarn.detection.isolation_forest import IsolationForestDetector
from forewarn.errors import ConflictError, InvalidInputError
from forewarn.ml.artifacts import save_artifact
from forewarn.ml.registry import ModelRegistry
from forewarn.schemas.common import ms_to_datetime
from forewarn.services.devices import get_device
from forewarn.telemetry.query import latest_ts, read_series

_LOGGER = logging.getLogger(__name__)

MIN_TRAINING_READINGS = 10
DAY_MS = 86_400_000
ARTIFACT_SUFFIX = ".npz"


@dataclass(frozen=True)
class TrainSpec:
    """What to train: a series, a window and the detector's parameters."""

    device_id: uuid.UUID
    metric_name: str
    window_days: int = 7
    end_ms: int | None = None
    contamination: float | Literal["auto"] = "auto"
    n_estimators: int = 100
    seed: int = 0
    algorithm: str = "isolation_forest"


def train_model(session: Session, registry: ModelRegistry, key: bytes, spec: TrainSpec) -> MLModel:
    """Fit, store the signed artifact, then switch the series' active model atomically."""
    get_device(session, spec.device_id)
    end_ms = (
        spec.end_ms
        if spec.end_ms is not None
        else latest_ts(session, spec.device_id, spec.metric_name)
    )
    start_ms = (end_ms or 0) - spec.window_days * DAY_MS
    ts, values = read_series(session, spec.device_id, spec.metric_name, start_ms, end_ms or 0)
    if end_ms is None or len(values) < MIN_TRAINING_READINGS:
        raise InvalidInputError(("body", "training_window_days"), _too_few(spec, len(values)))
    detector = IsolationForestDetector(
        n_estimators=spec.n_estimators, contamination=spec.contamination, seed=spec.seed
    ).fit(values)
    model_id = uuid.uuid4()
    relative = _artifact_path(registry.model_dir, spec.device_id, spec.metric_name)
    parameters = _parameters(spec, detector)
    size = save_artifact(
        registry.model_dir / relative,
        detector.to_arrays(),
        {
            "model_id": str(model_id),
            "device_id": str(spec.device_id),
            "metric_name": spec.metric_name,
            "parameters": parameters,
        },
        key,
    )
    try:
        model = _activate(
            session, spec, model_id, relative, size, detector, parameters, (int(ts[0]), int(ts[-1]))
        )
    except BaseException:
        (registry.model_dir / relative).unlink(missing_ok=True)
        raise
    registry.invalidate(spec.device_id, spec.metric_name)
    _LOGGER.info("trained %s v%s on %s readings", spec.metric_name, model.version, len(values))
    return model


def _too_few(spec: TrainSpec, found: int) -> str:
    return (
        f"found {found} readings of {spec.metric_name!r} for device {spec.device_id} in the "
        f"{spec.window_days}-day training window; at least {MIN_TRAINING_READINGS} are needed"
    )


def _parameters(spec: TrainSpec, detector: IsolationForestDetector) -> dict[str, Any]:
    return {
        **detector.params(),
        "training_window_days": spec.window_days,
    }


def _artifact_path(model_dir: Path, device_id: uuid.UUID, metric_name: str) -> Path:
    """`{device}/{metric}/model_YYYYMMDD_HHMMSS.npz`, suffixed when that second is taken."""
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    folder = Path(str(device_id)) / metric_name
    candidate = folder / f"model_{stamp}{ARTIFACT_SUFFIX}"
    counter = 1
    while (model_dir / candidate).exists():
        counter += 1
        candidate = folder / f"model_{stamp}_{counter}{ARTIFACT_SUFFIX}"
    return candidate


def _activate(
    session: Session,
    spec: TrainSpec,
    model_id: uuid.UUID,
    relative: Path,
    size: int,
    detector: IsolationForestDetector,
    parameters: dict[str, Any],
    span: tuple[int, int],
) -> MLModel:
    series = (MLModel.device_id == spec.device_id, MLModel.metric_name == spec.metric_name)
    version = (session.scalar(select(func.max(MLModel.version)).where(*series)) or 0) + 1
    session.execute(
        update(MLModel).where(*series, MLModel.is_active.is_(True)).values(is_active=False)
    )
    model = MLModel(
        id=model_id,
        device_id=spec.device_id,
        metric_name=spec.metric_name,
        version=version,
        algorithm=spec.algorithm,
        parameters=parameters,
        training_start=ms_to_datetime(span[0]),
        training_end=ms_to_datetime(span[1]),
        sample_count=detector.n_samples_fit_,
        threshold=float(detector.threshold_),
        artifact_path=relative.as_posix(),
        artifact_size=size,
        is_active=True,
        prediction_count=0,
        anomaly_count=0,
    )
    session.add(model)
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise ConflictError(
            "another model of this series was trained at the same moment; retry"
        ) from err
    return model
