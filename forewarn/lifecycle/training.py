"""Train a model for one series (or several metrics of a device) and make it active."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forewarn.artifacts import save_artifact
from forewarn.db.models import MLModel
from forewarn.db.types import ms_to_datetime
from forewarn.detection.base import Detector, F64Array, I64Array
from forewarn.detection.registry import (
    DEFAULT_ALGORITHM,
    DEVICE_ALGORITHM,
    algorithm,
    build_detector,
)
from forewarn.errors import ConflictError, InvalidInputError
from forewarn.scoring.registry import ModelRegistry
from forewarn.services.devices import get_device
from forewarn.telemetry.query import device_metrics, latest_ts, read_aligned

_LOGGER = logging.getLogger(__name__)

DAY_MS = 86_400_000
ARTIFACT_SUFFIX = ".npz"
ALL_METRICS = "*"


@dataclass(frozen=True)
class TrainSpec:
    """What to train: a series key, a window, an algorithm and its parameters.

    `metric_name` is one metric, "*" (every metric of the device) or a comma-separated list;
    the last two train one device-level model over the metrics aligned in time. Readings in
    the `exclude_ms` ranges (inclusive epoch ms, e.g. confirmed incidents) are left out.
    `contamination` and `n_estimators` are the replaced platform's forest options, given
    apart from `params`; None means "not given": every default is the algorithm's own.
    An InvalidInputError from training names the field of this spec it is about.
    """

    device_id: uuid.UUID
    metric_name: str
    window_days: int = 7
    end_ms: int | None = None
    algorithm: str = DEFAULT_ALGORITHM
    contamination: float | str | None = None
    n_estimators: int | None = None
    seed: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    exclude_ms: tuple[tuple[int, int], ...] = ()

    def options(self) -> dict[str, Any]:
        """The forest options given as fields of their own."""
        given = {"contamination": self.contamination, "n_estimators": self.n_estimators}
        return {k: v for k, v in given.items() if v is not None}

    def overrides(self) -> dict[str, Any]:
        """Every parameter the spec sets; a forest option field wins over `params`."""
        return {**self.params, **self.options()}


@dataclass(frozen=True)
class Fitted:
    """A fitted detector, not stored yet, and the readings it learned from."""

    detector: Detector
    ts: I64Array
    values: F64Array


def choose_algorithm(
    requested: str | None, *, forest_options_given: bool, metric_name: str = ""
) -> str:
    """The requested algorithm; else isolation_forest for the replaced platform's
    forest options (contamination, n_estimators); else the product's default for the
    series key: a device-level one (several metrics, or "*") gets `DEVICE_ALGORITHM`."""
    if requested is not None:
        return algorithm(requested).name
    if forest_options_given:
        return "isolation_forest"
    device_level = metric_name == ALL_METRICS or "," in metric_name
    return DEVICE_ALGORITHM if device_level else DEFAULT_ALGORITHM


def train_model(session: Session, registry: ModelRegistry, key: bytes, spec: TrainSpec) -> MLModel:
    """Fit, store the signed artifact, then switch the series' active model atomically."""
    return store_model(session, registry, key, spec, fit_model(session, spec))


def fit_model(session: Session, spec: TrainSpec) -> Fitted:
    """Read the training window and fit; nothing is stored."""
    get_device(session, spec.device_id)
    metrics = _metrics(session, spec)
    ts, values = _training_data(session, spec, metrics)
    return Fitted(_fit(spec, metrics, ts, values), ts, values)


def store_model(
    session: Session,
    registry: ModelRegistry,
    key: bytes,
    spec: TrainSpec,
    fitted: Fitted,
    *,
    rejection: str | None = None,
) -> MLModel:
    """Store the artifact and the row: the series' new active version or, with `rejection`,
    an inactive candidate kept with that reason."""
    detector, ts = fitted.detector, fitted.ts
    model_id = uuid.uuid4()
    relative = _artifact_path(registry.model_dir, spec.device_id, spec.metric_name)
    parameters = {**detector.params(), "training_window_days": spec.window_days}
    meta = {"model_id": str(model_id), "device_id": str(spec.device_id),
            "metric_name": spec.metric_name, "algorithm": spec.algorithm,
            "parameters": parameters}  # fmt: skip
    size = save_artifact(registry.model_dir / relative, detector.to_arrays(), meta, key)
    try:
        row = MLModel(
            id=model_id, device_id=spec.device_id, metric_name=spec.metric_name, version=0,
            algorithm=spec.algorithm, parameters=parameters,
            training_start=ms_to_datetime(int(ts[0])), training_end=ms_to_datetime(int(ts[-1])),
            sample_count=len(ts), threshold=float(detector.threshold_),
            artifact_path=relative.as_posix(), artifact_size=size, is_active=rejection is None,
            prediction_count=0, anomaly_count=0,
        )  # fmt: skip
        if rejection is not None:
            row.status, row.rejection_reason = "rejected", rejection
        model = _activate(session, spec, row)
    except BaseException:
        (registry.model_dir / relative).unlink(missing_ok=True)
        raise
    registry.invalidate(spec.device_id, spec.metric_name)
    _LOGGER.info("trained %s v%s on %s readings", spec.metric_name, model.version, len(ts))
    return model


def _metrics(session: Session, spec: TrainSpec) -> tuple[str, ...]:
    if spec.metric_name == ALL_METRICS:
        found = device_metrics(session, spec.device_id)
        if not found:
            raise InvalidInputError(("metric_name",), "the device has no readings yet")
        return found
    return tuple(spec.metric_name.split(","))


def _training_data(
    session: Session, spec: TrainSpec, metrics: tuple[str, ...]
) -> tuple[I64Array, F64Array]:
    end_ms = spec.end_ms
    if end_ms is None:
        ends = [latest_ts(session, spec.device_id, m) for m in metrics]
        end_ms = min((e for e in ends if e is not None), default=None)
    if end_ms is None:
        raise InvalidInputError(("window_days",), _too_few(spec, 0))
    start_ms = end_ms - spec.window_days * DAY_MS
    ts, values = read_aligned(session, spec.device_id, metrics, start_ms, end_ms)
    if spec.exclude_ms:
        keep = ~np.any([(ts >= a) & (ts <= b) for a, b in spec.exclude_ms], axis=0)
        ts, values = ts[keep], values[keep]
    if len(ts) < algorithm(spec.algorithm).min_readings:
        raise InvalidInputError(("window_days",), _too_few(spec, len(ts)))
    return ts, values


def _fit(spec: TrainSpec, metrics: tuple[str, ...], ts: I64Array, values: F64Array) -> Detector:
    if len(metrics) > 1 and not algorithm(spec.algorithm).multivariate:
        raise InvalidInputError(
            ("algorithm",), f"{spec.algorithm} cannot model several metrics at once"
        )
    try:
        built = build_detector(spec.algorithm, spec.overrides(), seed=spec.seed, metrics=metrics)
        return built.detector.fit(ts, values if len(metrics) > 1 else values[:, 0])
    except InvalidInputError as err:
        raise InvalidInputError(_spec_loc(spec, err.loc), err.message) from err


def _spec_loc(spec: TrainSpec, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Where a detector's complaint sits in the spec: a forest option given as its own field,
    else `params`. `build_detector` says ("parameters", name); a fitting detector names its
    own parameter alone."""
    if loc[:1] == ("algorithm",):
        return loc
    inner = loc[1:] if loc[:1] == ("parameters",) else loc
    if inner and inner[0] in spec.options() and inner[0] not in spec.params:
        return inner
    return ("params", *inner)


def _too_few(spec: TrainSpec, found: int) -> str:
    least = algorithm(spec.algorithm).min_readings
    return (
        f"found {found} readings of {spec.metric_name!r} for device {spec.device_id} in the "
        f"{spec.window_days}-day training window; {spec.algorithm} needs at least {least}"
    )


def _artifact_path(model_dir: Path, device_id: uuid.UUID, metric_name: str) -> Path:
    """`{device}/{metric}/model_YYYYMMDD_HHMMSS.npz`, suffixed when that second is taken."""
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    folder = Path(str(device_id)) / ("_all" if metric_name == ALL_METRICS else metric_name)
    candidate = folder / f"model_{stamp}{ARTIFACT_SUFFIX}"
    counter = 1
    while (model_dir / candidate).exists():
        counter += 1
        candidate = folder / f"model_{stamp}_{counter}{ARTIFACT_SUFFIX}"
    return candidate


def _activate(session: Session, spec: TrainSpec, model: MLModel) -> MLModel:
    """Number the version and insert it; an active one first retires the series' current."""
    series = (MLModel.device_id == spec.device_id, MLModel.metric_name == spec.metric_name)
    model.version = (session.scalar(select(func.max(MLModel.version)).where(*series)) or 0) + 1
    if model.is_active:
        session.execute(
            update(MLModel)
            .where(*series, MLModel.is_active.is_(True))
            .values(is_active=False, status="inactive")
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
