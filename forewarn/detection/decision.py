"""The decision layer (STYLE §8): from a stream of scores to "report this reading or not".

A threshold alone reports every reading of an excursion; an operator, like NAB, counts one
excursion as one event. `EventGate` reports the first reading whose score exceeds the
threshold, then stays silent until the score has stayed below `release` for `quiet_rows`
readings in a row (hysteresis), so one excursion is reported once. Readings scored while
the stream is warming up are never reported and do not change the gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RELEASE_SHARE = 0.5  # the gate re-arms below this share of the threshold ...
QUIET_ROWS = 12  # ... held for this many readings (an hour at 5-minute sampling)


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


EXCURSION_LEVELS = 20  # gates on a geometric grid of tail decades ...
EXCURSION_DECADES = (1.0, 60.0)  # ... from one in ten to one in 10^60
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
