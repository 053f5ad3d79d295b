"""What comes after scoring, inside the transaction: the scored series and the `Stage` slot.

A stage sees every series the pipeline scored in one step of a transaction (one request, one
MQTT batch, one chunk of a CSV import), after their anomalies were added to the session and
before the commit. Whatever it writes commits with the readings; if it raises, nothing of the
transaction is kept and nothing is published. Alarm rules are meant to be the first stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from forewarn.scoring.registry import ActiveModel
from forewarn.scoring.scorer import Value, Verdict


@dataclass(frozen=True, slots=True)
class ScoredSeries:
    """One model's readings, in time order, with the verdict on each."""

    model: ActiveModel
    readings: Sequence[tuple[int, Value]]
    verdicts: Sequence[Verdict]

    @property
    def anomalies(self) -> list[Verdict]:
        """The verdicts that flagged their reading."""
        return [verdict for verdict in self.verdicts if verdict.is_anomaly]


class Stage(Protocol):
    """A step of the reading pipeline after scoring, run inside the transaction."""

    def after_scoring(self, session: Session, scored: Sequence[ScoredSeries]) -> None:
        """Act on freshly scored series; writes go into `session`, an exception rolls the
        whole transaction back (readings, anomalies and all)."""


def run_stages(stages: Sequence[Stage], session: Session, scored: Sequence[ScoredSeries]) -> None:
    """Hand the scored series to every stage, in order."""
    for stage in stages:
        stage.after_scoring(session, scored)
