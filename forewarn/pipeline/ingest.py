"""`ReadingPipeline`: the one path of every reading from its entry point to the commit.

validated rows → store (`telemetry.store.storing`) → score every series with an active model,
in time order → stages → the caller's own rows → commit → count; the scorer publishes the
committed anomalies from its after-commit hook.
"""

from __future__ import annotations

import itertools
import operator
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from prometheus_client import Counter
from sqlalchemy.orm import Session

from forewarn.pipeline.predict import SeriesIn, SeriesOut, predict
from forewarn.pipeline.score import score_stored
from forewarn.pipeline.stages import ScoredSeries, Stage, run_stages
from forewarn.scoring.registry import ModelRegistry
from forewarn.scoring.scorer import Scorer
from forewarn.telemetry.store import Row, dedupe, storing

Transport = Literal["http", "mqtt", "csv", "demo"]
ByDevice = Mapping[uuid.UUID, Sequence[Row]]
_FLAGGED = operator.attrgetter("is_anomaly")
_TS = operator.attrgetter("ts")


@dataclass(frozen=True)
class Ingested:
    """What a transaction stored: metric values, readings scored, anomalies found."""

    readings: int = 0
    scored: int = 0
    anomalies: int = 0

    def plus(self, other: Ingested) -> Ingested:
        """Both counts together."""
        return Ingested(
            self.readings + other.readings,
            self.scored + other.scored,
            self.anomalies + other.anomalies,
        )


def in_time_order(rows: Iterable[Row], size: int) -> Iterator[dict[uuid.UUID, list[Row]]]:
    """Rows by device, in chunks of about `size` sorted by time, for one transaction's `add`
    calls: a time never spans two chunks, so every series only moves forward from one call
    to the next and a device-level model sees all of a time's metrics at once."""
    chunk: dict[uuid.UUID, list[Row]] = defaultdict(list)
    held = 0
    for _, same_time in itertools.groupby(sorted(rows, key=_TS), key=_TS):
        for row in same_time:
            chunk[row.device_id].append(row)
            held += 1
        if held >= size:
            yield chunk
            chunk, held = defaultdict(list), 0
    if held:
        yield chunk


def _counts(readings: int, scored: Sequence[ScoredSeries]) -> Ingested:
    # map/attrgetter: a batch holds 100,000 verdicts, a generator would cost milliseconds
    flagged = sum(sum(map(_FLAGGED, series.verdicts)) for series in scored)
    return Ingested(readings, sum(len(series.verdicts) for series in scored), flagged)


class PipelineTransaction:
    """One open transaction of the pipeline; each call stores, scores and runs the stages."""

    def __init__(self, pipeline: ReadingPipeline, session: Session) -> None:
        self._pipeline = pipeline
        self._session = session
        self.result = Ingested()

    def add(self, by_device: ByDevice) -> Ingested:
        """Store the devices' readings and score them with every active model of the device.

        Readings of a series must not go back in time from one call to the next of the same
        transaction (send them sorted by time); within one call their order does not matter.
        """
        pipeline, session = self._pipeline, self._session
        rows = dedupe(row for rows in by_device.values() for row in rows)
        stored = storing(session.connection(), rows, unique=True)
        scored = score_stored(session, pipeline.registry, pipeline.scorer, by_device, stored)
        self._after_scoring(scored)
        added = _counts(len(rows), scored)
        self.result = self.result.plus(added)
        return added

    def predict(self, batch: Sequence[SeriesIn]) -> list[SeriesOut]:
        """Store and score readings named by series (each needs an active model)."""
        pipeline = self._pipeline
        outs, scored = predict(self._session, pipeline.registry, pipeline.scorer, batch)
        self._after_scoring(scored)
        stored = sum(len(o.verdicts) * len(o.model.metrics) for o in outs)
        self.result = self.result.plus(_counts(stored, scored))
        return outs

    def _after_scoring(self, scored: Sequence[ScoredSeries]) -> None:
        stages = self._pipeline.stages
        if stages and scored:
            run_stages(stages, self._session, scored)


class ReadingPipeline:
    """Stores, scores and commits readings for every entry point (HTTP, MQTT, CSV).

    Built once by `build_runtime` from the parts it uses; `stages` run after scoring,
    inside the transaction (see `forewarn.pipeline.stages`).
    """

    def __init__(
        self,
        *,
        registry: ModelRegistry,
        scorer: Scorer,
        ingested: Counter,
        stages: tuple[Stage, ...] = (),
    ) -> None:
        self.registry = registry
        self.scorer = scorer
        self.stages = stages
        self._ingested = ingested  # labelled by transport

    @contextmanager
    def transaction(self, session: Session, transport: Transport) -> Iterator[PipelineTransaction]:
        """A transaction to add readings to; committed (and counted) when the block ends.

        If the block raises, nothing is committed: the session's owner rolls it back by
        closing it, and the anomalies scored meanwhile are never published.
        """
        opened = PipelineTransaction(self, session)
        yield opened
        session.commit()
        self._ingested.labels(transport=transport).inc(opened.result.readings)

    def ingest(
        self,
        session: Session,
        by_device: ByDevice,
        *,
        transport: Transport,
        also: Callable[[Session], object] | None = None,
    ) -> Ingested:
        """Store, score and commit the devices' readings; `also` adds the caller's own rows
        (dead letters, say) to the same transaction before the commit."""
        with self.transaction(session, transport) as opened:
            opened.add(by_device)
            if also is not None:
                also(session)
        return opened.result

    def predict(self, session: Session, batch: Sequence[SeriesIn]) -> list[SeriesOut]:
        """All or nothing: store, score and commit readings named by series (HTTP)."""
        with self.transaction(session, "http") as opened:
            outs = opened.predict(batch)
        return outs
