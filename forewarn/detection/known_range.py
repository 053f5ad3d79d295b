"""The ensemble's range check: the range of each metric seen so far, and readings that leave it.

A reading further than `tolerance` of the range's width beyond it leaves the range. The
range widens to include a reading that lies close to it (slow wander: within
`RANGE_ACCEPT_SHARE` of its width) or that is outside for the `RANGE_ACCEPT_RUN`-th time in
a row (a new level that persists). A far, isolated spike does not widen it: a sensor that
keeps spiking is reported at every spike, not once per retraining.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forewarn.detection.base import F64Array

RANGE_ACCEPT_SHARE = 0.25
RANGE_ACCEPT_RUN = 2
Exit = tuple[str, float, float, float]  # metric, reading, low, high


class KnownRange:
    """Per metric: the lowest and highest readings accepted so far, and the current run of
    readings outside the range."""

    def __init__(
        self, metrics: Sequence[str], low: list[float], high: list[float], tolerance: float
    ) -> None:
        """Start from a learned range."""
        self._metrics = tuple(metrics)
        self._low, self._high = low, high
        self._tolerance = tolerance
        self._exit_runs = [0] * len(low)

    @property
    def width(self) -> int:
        """Values per reading."""
        return len(self._low)

    def check(self, values: list[float]) -> list[Exit]:
        """Metrics whose reading leaves the known range; the range widens to include a reading
        near it, or one outside it for the RANGE_ACCEPT_RUN-th time in a row."""
        exits = []
        for j, (x, lo, hi) in enumerate(zip(values, self._low, self._high, strict=True)):
            span = hi - lo
            outside = x > hi + self._tolerance * span or x < lo - self._tolerance * span
            self._exit_runs[j] = self._exit_runs[j] + 1 if outside else 0
            if outside:
                exits.append((self._metrics[j], x, lo, hi))
            near = lo - RANGE_ACCEPT_SHARE * span <= x <= hi + RANGE_ACCEPT_SHARE * span
            if near or self._exit_runs[j] >= RANGE_ACCEPT_RUN:
                self._low[j], self._high[j] = min(lo, x), max(hi, x)
        return exits

    def check_many(self, values: F64Array) -> dict[int, list[Exit]]:
        """`check` on each row of values (n, metrics) in turn: the exits by row.

        The range only widens, so a reading inside the range the batch starts with stays
        inside, moves nothing and only ends the runs outside: `check` runs on the others.
        """
        inside = (values >= np.array(self._low)) & (values <= np.array(self._high))
        if self._tolerance < 0:  # a range narrower than the readings it holds
            inside[:] = False
        found, last = {}, -1
        for i in np.flatnonzero(~inside.all(axis=1)).tolist():
            if i > last + 1:
                self._exit_runs = [0] * self.width
            found[i] = self.check(values[i].tolist())
            last = i
        if last < len(values) - 1:
            self._exit_runs = [0] * self.width
        return found
