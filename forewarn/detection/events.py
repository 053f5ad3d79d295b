"""The decision layer (STYLE §8): from scored readings to events, the state an operator sees.

An event is one excursion. `EventTracker` says of each reading whether it opens a new event
to report (`is_anomaly`), whether it lies inside an excursion (`anomalous`, with hysteresis
so it does not flap) and which excursion that is (`event_start`, its first reading's time;
`event_id` turns it into a stable identifier). The detector's score is never changed.

An excursion starts with a reading scored above the threshold and lasts until `quiet_rows`
readings in a row score below the release level (the threshold, unless the detector knows
a lower level its normal readings stay under: its `release_`). Inside it, a reading above
the threshold opens a new event, so that no fault hides behind another, when:

- its explanation changes kind, clearly (the new top deviation lies at least `KIND_SIGMAS`
  from its baseline, or outside the known range): another metric, another family of
  feature, or the level moving the other way (a rate of change, a widened range or a
  jump against the last hour never counts: they are how a level moves, e.g. the return from
  a spike or the end of a stuck run; nor does a change from a day or a week earlier: the
  echo of a fault then);
- its severity rises a level (each level doubles the odds of the score), once the
  excursion has settled for `SETTLE_ROWS` readings (a step builds up its score over a few):
  above the excursion's peak; or, for a level deviation, above each of the last
  `quiet_rows` readings when none of them was a level deviation or a value outside its
  usual band: a second spike once the first is over and only its aftermath (rates, 1-hour
  ranges) still lingers in the scores;
- its value leaves the range of the excursion so far (which includes the usual band of the
  metric) by more than the width of that band.
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import numpy as np

from forewarn.detection.base import BoolArray, Explanation, F64Array, I64Array

EVENT_NAMESPACE = uuid.UUID("5b0c4a3e-2f1d-4c58-9a7e-3d6f0e8b1c27")
QUIET_ROWS = 6  # an excursion ends after this many calm readings in a row (30 minutes at
# 5-minute sampling); calm means below the detector's `release_` level, else its threshold
SETTLE_ROWS = 3  # readings in which a new excursion's score may still build up
MAX_LEVEL = 4  # severity levels above the threshold: each doubles the odds of the score
SPAN_MARGIN = 1.0  # a value this many usual bands beyond the excursion's range is a new one
KIND_SIGMAS = 4.0  # a kind of deviation weaker than this does not open an event of its own
# Feature families: a kind is (metric, family, direction).
FAMILIES = {
    "value": "level", "z_1h": "moves", "z_1d": "level", "vs_1d_ago": "lag",
    "vs_1w_ago": "lag", "seasonal": "level", "range": "level",
    "rate": "moves", "range_1h": "moves", "unchanged": "stuck", "gap": "gap",
    "rare_level": "dwell",
}  # fmt: skip
UNSIGNED = frozenset({"moves", "stuck", "gap", "dwell"})
# Families that never open an event by a change of kind: how a level moves, its echo a day
# or a week later (a fault yesterday makes today's change from a day earlier unusual), and
# how long it has stayed at rare levels (the hour after any level fault).
FOLLOWERS = frozenset({"moves", "lag", "dwell"})
Kind = tuple[str, str, int]


def event_id(scope: str, start_ms: int) -> str:
    """The stable identifier of the event of `scope` (a model and series) opened at
    `start_ms`: the same excursion gets the same id in every response, row and export."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{scope}/{start_ms}"))


class EventVerdict(NamedTuple):
    """The decision on one reading (a tuple: a batch makes many)."""

    is_anomaly: bool
    anomalous: bool
    event_start: int | None


QUIET = EventVerdict(False, False, None)


def severity(score: float, threshold: float) -> int:
    """0 at or below the threshold, then one level per doubling of the odds s / (1 - s)."""
    if score <= threshold:
        return 0
    if score >= 1.0:
        return MAX_LEVEL
    base = min(max(threshold, 1e-12), 1 - 1e-12)
    ratio = (score / (1 - score)) / (base / (1 - base))
    return min(1 + int(math.log2(ratio)), MAX_LEVEL)


def kind_of(explanation: Explanation) -> Kind | None:
    """The explanation's dominant (metric, feature family, direction); None if it has none,
    or if its top deviation is too weak to tell."""
    if not explanation.deviations:
        return None
    metric = explanation.metrics[0] if explanation.metrics else explanation.deviations[0].metric
    top = next((d for d in explanation.deviations if d.metric == metric), None)
    top = top or explanation.deviations[0]
    if top.feature != "range" and abs(top.sigmas) < KIND_SIGMAS:
        return None  # too weak to say what kind of excursion this is
    family = FAMILIES.get(top.feature, top.feature)
    sign = 0 if family in UNSIGNED else (1 if top.value >= top.baseline else -1)
    return (top.metric, family, sign)


class EventTracker:
    """Open, continue and close events on a series' scored readings.

    Examples
    --------
    >>> from forewarn.detection.base import Deviation
    >>> up = Explanation("hot", (Deviation("value", 45.0, 25.0, 1.0, "t"),), ("t",))
    >>> down = Explanation("cold", (Deviation("value", -80.0, 25.0, 1.0, "t"),), ("t",))
    >>> tracker = EventTracker(0.5, bands=[(22.0, 29.0)], quiet_rows=2)
    >>> tracker.step(0, 0.9, False, lambda: up, [45.0])
    EventVerdict(is_anomaly=True, anomalous=True, event_start=0)
    >>> tracker.step(1, 0.9, False, lambda: down, [-80.0]).is_anomaly  # another fault
    True
    >>> [tracker.step(t, 0.1, False, lambda: up, [25.0]).anomalous for t in (2, 3, 4)]
    [True, False, False]

    It fails to tell two faults apart when the second has the same kind, severity and
    range as the first and starts before the first has calmed down.
    """

    def __init__(
        self,
        threshold: float,
        *,
        bands: Sequence[tuple[float, float]] | None = None,
        release: float | None = None,
        quiet_rows: int = QUIET_ROWS,
    ) -> None:
        """Decide against `threshold`; `bands` (each metric's usual low and high) enable the
        range rule."""
        self._release = release
        self.retarget(threshold)
        self.quiet_rows = quiet_rows
        self._bands = [(float(lo), float(hi)) for lo, hi in bands] if bands is not None else None
        self._spans = [hi - lo for lo, hi in self._bands or []]
        self.start: int | None = None
        self._calm = self._rows = self._peak = 0
        self._levels: deque[int] = deque(maxlen=quiet_rows)  # the excursion's recent levels
        # ... and which of them still showed the fault: a level deviation, or a value out of band
        self._leveled: deque[bool] = deque(maxlen=quiet_rows)
        self._kinds: set[Kind | None] = set()
        self._low: list[float] = []
        self._high: list[float] = []

    def retarget(self, threshold: float) -> None:
        """Decide against another threshold from now on (the release level follows it)."""
        self.threshold = threshold
        self.release = threshold if self._release is None else min(self._release, threshold)

    def step(
        self,
        ts_ms: int,
        score: float,
        warming_up: bool,
        explain: Callable[[], Explanation],
        values: Sequence[float],
    ) -> EventVerdict:
        """The decision on the next reading; `explain` is called only above the threshold."""
        if warming_up:
            return EventVerdict(False, self.start is not None, self.start)
        above = score > self.threshold
        if self.start is None:
            if not above:
                return QUIET
            return self._open(ts_ms, severity(score, self.threshold), kind_of(explain()), values)
        self._rows += 1
        if above:
            self._calm = 0
            return self._continue(ts_ms, score, explain, values)
        self._levels.append(0)
        self._leveled.append(self._outside(values))
        self._calm = self._calm + 1 if score < self.release else 0
        if self._calm >= self.quiet_rows:
            self.start = None
            return QUIET
        return EventVerdict(False, True, self.start)

    def _open(
        self, ts_ms: int, level: int, kind: Kind | None, values: Sequence[float]
    ) -> EventVerdict:
        self.start, self._calm, self._rows, self._peak = ts_ms, 0, 0, level
        self._levels.clear()
        self._levels.append(level)
        self._leveled.clear()
        self._leveled.append(self._shows_fault(kind, values))
        self._kinds = {kind}
        bands = self._bands or [(x, x) for x in values]
        self._low = [min(x, lo) for x, (lo, _) in zip(values, bands, strict=False)]
        self._high = [max(x, hi) for x, (_, hi) in zip(values, bands, strict=False)]
        return EventVerdict(True, True, ts_ms)

    def _continue(
        self, ts_ms: int, score: float, explain: Callable[[], Explanation], values: Sequence[float]
    ) -> EventVerdict:
        kind, level = kind_of(explain()), severity(score, self.threshold)
        rises = self._rows > SETTLE_ROWS and self._rises(level, kind)
        if self._new_kind(kind) or rises or self._leaves(values):
            return self._open(ts_ms, level, kind, values)
        self._kinds.add(kind)
        self._levels.append(level)
        self._leveled.append(self._shows_fault(kind, values))
        self._peak = max(self._peak, level)
        self._low = [min(a, b) for a, b in zip(self._low, values, strict=False)]
        self._high = [max(a, b) for a, b in zip(self._high, values, strict=False)]
        return EventVerdict(False, True, self.start)

    def _rises(self, level: int, kind: Kind | None) -> bool:
        """Above the excursion's peak; or, for a level deviation once the last fault was
        over (its aftermath lingering in rates and ranges), above each recent reading."""
        if level > self._peak:
            return True
        if kind is None or kind[1] != "level" or level <= max(self._levels):
            return False
        return not any(self._leveled)  # the fault was over: only its aftermath stayed

    def _new_kind(self, kind: Kind | None) -> bool:
        return kind is not None and kind not in self._kinds and kind[1] not in FOLLOWERS

    def _shows_fault(self, kind: Kind | None, values: Sequence[float]) -> bool:
        """Whether a reading still shows a fault of its own: a level deviation, or a value
        outside its band (not only the rates and ranges a past fault leaves behind)."""
        return (kind is not None and kind[1] == "level") or self._outside(values)

    def _outside(self, values: Sequence[float]) -> bool:
        """Whether a value lies outside its metric's usual band."""
        bands = self._bands or []
        return any(x < lo or x > hi for x, (lo, hi) in zip(values, bands, strict=False))

    def _leaves(self, values: Sequence[float]) -> bool:
        return any(
            x < low - SPAN_MARGIN * span or x > high + SPAN_MARGIN * span
            for x, low, high, span in zip(values, self._low, self._high, self._spans, strict=False)
            if span > 0
        )

    def step_many(
        self,
        ts_ms: I64Array,
        scores: F64Array,
        warming_up: BoolArray,
        explain: Callable[[int], Explanation],
        values: F64Array,
    ) -> tuple[BoolArray, BoolArray, list[int | None]]:
        """`step` on each reading in turn: is_anomaly, anomalous and event starts. Outside an
        excursion it jumps to the next reading above the threshold."""
        n = len(scores)
        flags, inside = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        starts: list[int | None] = [None] * n
        crossings = np.flatnonzero((scores > self.threshold) & ~warming_up)
        stamps, numbers, warm = ts_ms.tolist(), scores.tolist(), warming_up.tolist()
        i = 0
        while i < n:
            if self.start is None:
                k = int(np.searchsorted(crossings, i))
                if k == len(crossings):
                    break
                i = int(crossings[k])
            row = values[i].tolist()
            verdict = self.step(stamps[i], numbers[i], warm[i], partial(explain, i), row)
            flags[i], inside[i], starts[i] = verdict
            i += 1
        return flags, inside, starts
