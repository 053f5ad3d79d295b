"""Threshold sweeps that count an excursion once: what the NAB optimal-threshold figure ranks.

The shipped decision is the event tracker's (`events.py`). A benchmark that sweeps the
threshold over a detector's raw scores would pay for every high reading of an excursion,
where the product reports it once. `ExcursionScore` turns the raw scores into ones any
threshold reads about as the tracker would: one `EventGate` per level of a fixed grid, each
reporting the first reading above its level and re-arming after `quiet_rows` calm ones; a
reading keeps its score where it opens an excursion at some level and half of it otherwise
(`evaluation.replay.sweep_scores`). Nothing here changes a score the product returns.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from forewarn.detection.base import BoolArray, F64Array, I64Array
from forewarn.detection.likelihood import decades_score

RELEASE_SHARE = 0.5  # the gate re-arms below this share of the threshold ...
QUIET_ROWS = 12  # ... held for this many readings (an hour at 5-minute sampling)
LOOP_ROWS = 32  # fewer scores than this are decided one by one: cheaper than numpy's set-up


@dataclass
class EventGate:
    """Report one excursion once.

    Examples
    --------
    >>> gate = EventGate(threshold=0.5)
    >>> [gate.decide(s) for s in (0.1, 0.7, 0.9, 0.6, 0.1)]
    [False, True, False, False, False]
    >>> gate = EventGate(threshold=0.5, quiet_rows=1)
    >>> [gate.decide(s) for s in (0.7, 0.1, 0.8)]
    [True, False, True]

    It fails to report a second fault that starts before the first excursion has calmed
    down (two overlapping faults are one event to the gate).
    """

    threshold: float
    release: float = field(default=-1.0)
    quiet_rows: int = QUIET_ROWS
    armed: bool = True
    calm_rows: int = 0

    def __post_init__(self) -> None:
        """Default the release level to a share of the threshold."""
        if self.release < 0:
            self.release = RELEASE_SHARE * self.threshold

    def decide(self, score: float, warming_up: bool = False) -> bool:
        """Whether to report this reading; updates the gate."""
        if warming_up:
            return False
        if self.armed:
            if score > self.threshold:
                self.armed, self.calm_rows = False, 0
                return True
            return False
        self.calm_rows = self.calm_rows + 1 if score < self.release else 0
        self.armed = self.calm_rows >= self.quiet_rows
        return False

    def decide_many(self, scores: F64Array) -> BoolArray:
        """`decide` on each score in turn (none warming up): which ones it reports.

        Between events the gate only waits, so it jumps from one to the next: the next
        score above the threshold while armed, the end of the next run of `quiet_rows`
        calm scores while not. That needs a score that crosses never to count as calm.
        """
        if self.release > self.threshold or len(scores) < LOOP_ROWS:
            return np.array([self.decide(s) for s in scores.tolist()], dtype=bool)
        flags = np.zeros(len(scores), dtype=bool)
        crossings = np.flatnonzero(scores > self.threshold)
        if self.armed and not len(crossings):
            return flags  # the usual case for the higher levels: nothing to report, no change
        runs = calm_runs(scores < self.release, 0 if self.armed else self.calm_rows)
        rearms = np.flatnonzero(runs >= self.quiet_rows)
        at = 0
        while True:
            events = crossings if self.armed else rearms
            k = int(np.searchsorted(events, at))
            if k == len(events):
                break
            at = int(events[k])
            flags[at] = self.armed
            self.armed, self.calm_rows = not self.armed, 0 if self.armed else int(runs[at])
            at += 1
        if not self.armed and len(scores):
            self.calm_rows = int(runs[-1])
        return flags


def calm_runs(calm: BoolArray, carry: int) -> I64Array:
    """Length of the run of calm scores ending at each one; the first run adds `carry`."""
    index = np.arange(len(calm), dtype=np.int64)
    last_break = np.maximum.accumulate(np.where(calm, -1, index))
    return np.where(last_break < 0, index + 1 + carry, index - last_break)


EXCURSION_LEVELS = 20  # gates on a geometric grid of tail decades ...
EXCURSION_DECADES = (1.0, 60.0)  # ... from one in ten to one in 10^60
EXCURSION_ROWS = 48  # calm readings after which a level re-arms
REPEAT_SHARE = 0.5  # a reading that crosses no armed gate keeps this share of its score


@dataclass
class ExcursionScore:
    """A continuous score that favours the first reading of an excursion.

    One `EventGate` per level of a fixed grid: a reading keeps its score when it crosses
    a level whose gate is armed (it would be reported at that threshold); otherwise the
    excursion is already under way at every level it reaches and the reading keeps only
    `REPEAT_SHARE` of it. Any threshold on the result then fires about once per excursion,
    as the gate does, while the score still ranks excursions by strength.

    Examples
    --------
    >>> excursion = ExcursionScore(levels=(0.3, 0.6), quiet_rows=2)
    >>> [excursion.update(s) for s in (0.1, 0.7, 0.7, 0.9, 0.1, 0.1, 0.1, 0.7)]
    [0.1, 0.7, 0.35, 0.45, 0.1, 0.1, 0.1, 0.7]

    It fails to give a second fault its full score when it starts before the first
    excursion has calmed down, unless it is stronger.
    """

    levels: tuple[float, ...]
    quiet_rows: int = QUIET_ROWS
    gates: list[EventGate] = field(default_factory=list)

    def __post_init__(self) -> None:
        """One gate per level, lowest first."""
        self.gates = [EventGate(t, quiet_rows=self.quiet_rows) for t in sorted(self.levels)]

    def update(self, score: float) -> float:
        """The calibrated score of the next reading; updates every gate."""
        lowest = self.gates[0]
        if score <= lowest.threshold and lowest.armed:
            return score  # below every level with every gate armed (the usual case): no change
        crossed = [gate.decide(score) for gate in self.gates]
        if any(crossed) or score <= lowest.threshold:
            return score
        return REPEAT_SHARE * score

    def update_many(self, scores: F64Array) -> F64Array:
        """`update` on each score in turn, with each gate deciding on all of them at once."""
        if len(scores) < LOOP_ROWS or not self._nested():
            return np.array([self.update(s) for s in scores.tolist()], dtype=np.float64)
        crossed = np.zeros(len(scores), dtype=bool)
        for gate in self.gates:
            crossed |= gate.decide_many(scores)
        keep = crossed | (scores <= self.gates[0].threshold)
        return np.where(keep, scores, REPEAT_SHARE * scores)

    def _nested(self) -> bool:
        """Whether `update`'s shortcut skips only gates that would not change: when the
        lowest gate is armed, all are. That holds, and stays true, while each gate's levels
        lie above the one below it and a lower gate is never armed, or calmer, alone."""
        if any(g.release > g.threshold for g in self.gates):
            return False
        for low, high in itertools.pairwise(self.gates):
            levels = low.threshold <= high.threshold and low.release <= high.release
            if not levels or low.quiet_rows != high.quiet_rows or (low.armed and not high.armed):
                return False
            if not (low.armed or high.armed) and low.calm_rows > high.calm_rows:
                return False
        return True


def excursion_score(quiet_rows: int = EXCURSION_ROWS) -> ExcursionScore | None:
    """Gates on a geometric grid of likelihood decades (None when `quiet_rows` is 0)."""
    if quiet_rows <= 0:
        return None
    decades = np.geomspace(*EXCURSION_DECADES, EXCURSION_LEVELS)
    return ExcursionScore(tuple(decades_score(float(d)) for d in decades), quiet_rows)
