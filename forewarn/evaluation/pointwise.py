"""Point-wise metrics: each scored row is one decision, judged against its label (SKAB's way).

A row is a fault row when it lies in a label window (from its first to its last row inside
it). Only scored rows count (not the training rows). On the per-row ``anomalous`` decision,
with TP, FP, FN, TN counted over those rows:

- precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN);
- false-alarm rate FAR = 100 FP / (FP + TN): % of normal rows that are anomalous;
- missed-alarm rate MAR = 100 FN / (FN + TP): % of fault rows that are not.

Each is NaN where its denominator is zero. Files are pooled by adding their counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from forewarn.errors import InvalidInputError
from forewarn.evaluation.nab import FileLayout


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when undefined."""
    return num / den if den else math.nan


@dataclass(frozen=True)
class PointwiseMetrics:
    """Counts of per-row decisions against labels, and the figures made from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def rows(self) -> int:
        """Scored rows counted."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        """Share of anomalous rows that are fault rows."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """Share of fault rows that are anomalous."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall: 2 TP / (2 TP + FP + FN)."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def false_alarm_rate(self) -> float:
        """% of normal rows that are anomalous (FAR)."""
        return 100 * _ratio(self.fp, self.fp + self.tn)

    @property
    def missed_alarm_rate(self) -> float:
        """% of fault rows that are not anomalous (MAR)."""
        return 100 * _ratio(self.fn, self.fn + self.tp)

    def plus(self, other: PointwiseMetrics) -> PointwiseMetrics:
        """The counts of both."""
        return PointwiseMetrics(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )


def pointwise(anomalous: npt.ArrayLike, layout: FileLayout) -> PointwiseMetrics:
    """Counts of one file's per-row decisions on its scored rows (after the probation)."""
    flags = np.asarray(anomalous, dtype=np.bool_)
    if flags.shape != (layout.n_rows,):
        raise InvalidInputError(("anomalous",), f"need {layout.n_rows} rows, got {flags.shape}")
    d, y = flags[layout.probation :], layout.in_window[layout.probation :]
    return PointwiseMetrics(
        tp=int((d & y).sum()),
        fp=int((d & ~y).sum()),
        fn=int((~d & y).sum()),
        tn=int((~d & ~y).sum()),
    )


def pool(files: Iterable[PointwiseMetrics]) -> PointwiseMetrics:
    """The counts of several files added up (SKAB pools every scored row of its runs)."""
    total = PointwiseMetrics()
    for metrics in files:
        total = total.plus(metrics)
    return total
