"""Champion/challenger: both models replay the same held-out recent readings, and the
challenger is promoted only if it is not worse on any check of `CHECKS`.

Both states are primed on the same history (the challenger's training readings), then
score the held-out readings one at a time with their shipped decision layer, exactly as
live scoring would; a reading counts as reported while it is `anomalous` (in alarm).
Ground truth is what operators said: confirmed incidents (true-positive windows) must still
be found, readings marked false positive must not be reported again, and no more readings
may be reported outside confirmed incidents. Those alarms are compared as readings, not as
events: a champion that stays in alarm over a whole day of a new normal level is one event
but clearly worse than a challenger with two stray reports. The events
(`evaluation.events`) are kept in the figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from forewarn.detection.base import Detector, F64Array, I64Array
from forewarn.detection.tracked import tracked
from forewarn.evaluation.events import false_events

MIN_HOLDOUT_ROWS = 10


@dataclass(frozen=True)
class Readings:
    """Aligned readings: times (n,) and values (n,) or (n, k)."""

    ts: I64Array
    values: F64Array


@dataclass(frozen=True)
class Backtest:
    """How one model did on the held-out readings."""

    rows: int
    alarms: int  # readings reported outside confirmed incidents
    false_events: int  # those alarms grouped into runs, as an operator counts them
    incidents: int  # confirmed incidents overlapping the held-out readings
    detected: int  # of which at least one reading was reported
    repeated_false_positives: int  # readings marked false positive and reported again

    def as_dict(self) -> dict[str, int]:
        """JSON-ready figures."""
        return asdict(self)


def decisions(
    detector: Detector, threshold: float, history: Readings, held: Readings
) -> list[bool]:
    """Whether each held-out reading is in alarm (`anomalous`, the state an operator sees
    while an excursion lasts), primed on `history`."""
    state = tracked(detector, history.ts, history.values, threshold)
    stamps, values = held.ts.tolist(), held.values.tolist()
    return state.verdict_batch(stamps, values, threshold).anomalous


def backtest(
    flags: Sequence[bool],
    held_ts: I64Array,
    windows: Sequence[tuple[int, int]],
    false_ts: Sequence[int],
) -> Backtest:
    """Score decisions against confirmed windows and known false positives."""
    hits = np.asarray(flags, dtype=np.bool_)
    in_window = np.zeros(len(held_ts), dtype=np.bool_)
    incidents = detected = 0
    for start, end in windows:
        inside = (held_ts >= start) & (held_ts <= end)
        if inside.any():
            incidents += 1
            detected += bool(hits[inside].any())
            in_window |= inside
    known = np.isin(held_ts, np.asarray(false_ts, dtype=np.int64))
    return Backtest(
        rows=len(held_ts),
        alarms=int((hits & ~in_window).sum()),
        false_events=false_events(hits, in_window),
        incidents=incidents,
        detected=detected,
        repeated_false_positives=int((hits & known).sum()),
    )


@dataclass(frozen=True)
class Check:
    """One way a challenger can be worse than the champion, and how to say so."""

    name: str
    worse: Callable[[Backtest, Backtest], bool]  # (champion, challenger)
    reason: Callable[[Backtest, Backtest], str]


CHECKS: tuple[Check, ...] = (
    Check(
        "confirmed incidents",
        lambda c, n: n.detected < c.detected,
        lambda c, n: (
            f"finds {n.detected} of {n.incidents} confirmed incidents in the held-out "
            f"readings; the current model finds {c.detected}"
        ),
    ),
    Check(
        "false alarms",
        lambda c, n: n.alarms > c.alarms,
        lambda c, n: (
            f"reports {n.alarms} held-out readings outside confirmed incidents; "
            f"the current model {c.alarms}"
        ),
    ),
    Check(
        "known false positives",
        lambda c, n: n.repeated_false_positives > c.repeated_false_positives,
        lambda c, n: (
            f"reports {n.repeated_false_positives} readings operators marked as false "
            f"positives; the current model {c.repeated_false_positives}"
        ),
    ),
)


def judge(champion: Backtest, challenger: Backtest) -> str | None:
    """Why the challenger is worse (every failed check), or None: it may be promoted."""
    reasons = [check.reason(champion, challenger) for check in CHECKS
               if check.worse(champion, challenger)]  # fmt: skip
    return "; ".join(reasons) or None
