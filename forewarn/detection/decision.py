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
