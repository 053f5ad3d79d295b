"""Which model is active for a series, and the loaded detectors (an LRU cache)."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from forewarn.artifacts import load_artifact
from forewarn.db.models import MLModel
from forewarn.db.types import datetime_to_ms
from forewarn.detection.base import Detector
from forewarn.detection.registry import algorithm
from forewarn.errors import NotFoundError

if TYPE_CHECKING:
    from forewarn.scoring.active_cache import RedisModelCache

SeriesKey = tuple[uuid.UUID, str]


@dataclass(frozen=True)
class ActiveModel:
    """What scoring needs to know about a series' active model."""

    id: uuid.UUID
    device_id: uuid.UUID
    metric_name: str
    version: int
    threshold: float
    artifact_path: str
    algorithm: str
    metrics: tuple[str, ...]
    training_start_ms: int
    training_end_ms: int

    @classmethod
    def from_row(cls, row: MLModel) -> ActiveModel:
        """The scoring view of a model row."""
        metrics = tuple(row.parameters.get("metrics") or (row.metric_name,))
        return cls(
            row.id, row.device_id, row.metric_name, row.version, row.threshold,
            row.artifact_path, row.algorithm, metrics, datetime_to_ms(row.training_start),
            datetime_to_ms(row.training_end),
        )  # fmt: skip

    @property
    def multivariate(self) -> bool:
        """True for a device-level model over several metrics."""
        return len(self.metrics) > 1 or self.metrics != (self.metric_name,)


class ModelRegistry:
    """Looks up active models (briefly cached) and keeps loaded detectors in memory."""

    def __init__(
        self,
        *,
        key: bytes,
        model_dir: Path,
        cache_size: int,
        active_ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        shared: RedisModelCache | None = None,
    ) -> None:
        self._key = key
        self._shared = shared  # a cache shared by every process, under this one's
        self.model_dir = model_dir
        self._cache_size = cache_size
        self._ttl = active_ttl_s
        self._clock = clock
        self._active: dict[SeriesKey, tuple[float, ActiveModel]] = {}
        self._by_device: dict[uuid.UUID, tuple[float, list[ActiveModel]]] = {}
        self._loaded: OrderedDict[uuid.UUID, Detector] = OrderedDict()
        self._lock = threading.Lock()

    def active(self, session: Session, device_id: uuid.UUID, metric_name: str) -> ActiveModel:
        """The active model of a series, or NotFoundError."""
        key = (device_id, metric_name)
        cached = self._active.get(key)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        load = functools.partial(_load_active, session, device_id, metric_name)
        model = self._shared.series(device_id, metric_name, load) if self._shared else load()
        self._active[key] = (self._clock(), model)
        return model

    def device_models(self, session: Session, device_id: uuid.UUID) -> list[ActiveModel]:
        """Every active model of a device (briefly cached): what new readings must go through."""
        cached = self._by_device.get(device_id)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        load = functools.partial(_load_device, session, device_id)
        models = self._shared.device(device_id, load) if self._shared else load()
        self._by_device[device_id] = (self._clock(), models)
        return models

    def detector(self, model: ActiveModel) -> Detector:
        """The loaded, verified detector of a model version."""
        with self._lock:
            found = self._loaded.get(model.id)
            if found is not None:
                self._loaded.move_to_end(model.id)
                return found
        arrays, meta = load_artifact(self.model_dir / model.artifact_path, self._key)
        detector = algorithm(model.algorithm).load(arrays, meta.get("parameters") or {})
        with self._lock:
            self._loaded[model.id] = detector
            while len(self._loaded) > self._cache_size:
                self._loaded.popitem(last=False)
        return detector

    def invalidate(self, device_id: uuid.UUID, metric_name: str) -> None:
        """Forget the cached active model of a series (after train or delete)."""
        self._active.pop((device_id, metric_name), None)
        self._by_device.pop(device_id, None)
        if self._shared is not None:
            self._shared.invalidate(device_id)

    def invalidate_device(self, device_id: uuid.UUID) -> None:
        """Forget the cached active models of every series of a device (after its deletion)."""
        for key in [key for key in list(self._active) if key[0] == device_id]:
            self._active.pop(key, None)
        self._by_device.pop(device_id, None)
        if self._shared is not None:
            self._shared.invalidate(device_id)

    def forget(self, model_id: uuid.UUID) -> None:
        """Drop a loaded detector (after its artifact was purged)."""
        with self._lock:
            self._loaded.pop(model_id, None)


def _load_active(session: Session, device_id: uuid.UUID, metric_name: str) -> ActiveModel:
    row = session.scalar(
        select(MLModel).where(
            MLModel.device_id == device_id,
            MLModel.metric_name == metric_name,
            MLModel.is_active.is_(True),
        )
    )
    if row is None:
        raise NotFoundError("active model for series", f"{device_id}/{metric_name}")
    return ActiveModel.from_row(row)


def _load_device(session: Session, device_id: uuid.UUID) -> list[ActiveModel]:
    rows = session.scalars(
        select(MLModel).where(MLModel.device_id == device_id, MLModel.is_active.is_(True))
    )
    return [ActiveModel.from_row(row) for row in rows]
