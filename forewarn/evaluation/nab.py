"""NAB scoring: window-weighted rewards and costs, normalised 0..100, and the threshold sweep.

Exact formulas (rows are 0-based; ``p = min(floor(0.15 * N), 750)``; ``sigma(y) =
2/(1+exp(5y)) - 1``, computed as the identical ``-tanh(2.5 y)`` so it never overflows):

- Rows ``< p`` are never scored: a detection there is dropped. A window ``[s, e]`` (inclusive,
  ``w = e - s + 1``) keeps its full extent for every position below; a window lying wholly
  inside the probationary period is dropped, as no detector may be rewarded or blamed for it.
- Window: only its first scorable detection ``i`` counts and earns
  ``A_tp * sigma(-(e - i + 1)/w) / sigma(-1)``. ``sigma`` falls as ``y`` rises, so over the
  window's rows it peaks at the first row (``y = -1``, ``sigma(-1) = tanh(2.5) ~ 0.987``);
  dividing by that peak (not by sup sigma = 1) is what makes the earliest row earn exactly
  ``A_tp`` as the definition asks. The last row earns ``~ A_tp * 2.5 / w``, still > 0. Later
  detections in the same window add nothing. A window without a detection adds ``-A_fn``.
- Detection at ``i`` outside every window, after window ``[s, e]`` (the latest one ending
  before ``i``): adds ``A_fp * sigma((i - e)/(w - 1))``. The ``w - 1`` is NAB's sweeper's
  (its position past a window divides by the window's width less one), not ``w``. Here
  ``y > 0`` so ``sigma`` is in ``(-1, 0)``: ~0 just after the window, tending to ``-1`` (the
  full ``-A_fp``) far away. After a one-row window (``w - 1 = 0``, where NAB would divide by
  zero) it adds the full ``-A_fp``, the formula's limit. With no earlier window it adds
  ``-A_fp``. Every such detection counts.
- Corpus: raw = sum over files; ``null`` = raw of never firing (``-A_fn`` per window),
  ``perfect`` = raw of firing only at the first scorable row of each window (``+A_tp`` per
  window); score = ``100 * (raw - null) / (perfect - null)``, so it is <= 100, never-fire = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from forewarn.errors import ForewarnError, InvalidInputError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

PROBATION_SHARE = 0.15
PROBATION_CAP = 750


class EvaluationError(ForewarnError):
    """A benchmark file, label set or profile set is missing or malformed."""


@dataclass(frozen=True)
class Profile:
    """One NAB scoring profile: the weights of a detected window, a false alarm and a miss."""

    name: str
    a_tp: float
    a_fp: float
    a_fn: float


PROFILES: tuple[Profile, ...] = (
    Profile("standard", a_tp=1.0, a_fp=0.11, a_fn=1.0),
    Profile("reward_low_FP_rate", a_tp=1.0, a_fp=0.22, a_fn=1.0),
    Profile("reward_low_FN_rate", a_tp=1.0, a_fp=0.11, a_fn=2.0),
)


def probationary_rows(n_rows: int) -> int:
    """Rows at the start of a series that are never scored: min(floor(0.15 N), 750)."""
    return min(math.floor(PROBATION_SHARE * n_rows), PROBATION_CAP)


def scaled_sigmoid(y: npt.ArrayLike) -> FloatArray:
    """NAB's sigma(y) = 2/(1+exp(5y)) - 1, in its overflow-free form -tanh(2.5 y)."""
    return np.asarray(-np.tanh(2.5 * np.asarray(y, dtype=np.float64)), dtype=np.float64)


SIGMA_MAX = float(scaled_sigmoid(-1.0))  # sigma at the first row of any window


def past_window(distance: FloatArray, width: int) -> FloatArray:
    """NAB's relative position of rows ``distance`` rows after a window of ``width`` rows.

    NAB's sweeper divides by ``width - 1``: the row just after a 50-row window sits at 1/49.
    A one-row window makes that a division by zero; every row after it is then infinitely
    far (full false-positive cost), the limit of the formula.
    """
    if width <= 1:
        return np.full(len(distance), np.inf)
    return np.asarray(distance / (width - 1), dtype=np.float64)


@dataclass(frozen=True)
class FileLayout:
    """A file's rows as the scorer sees them; profile-independent, built once per file."""

    probation: int
    windows: IntArray  # (k, 2) inclusive row ranges with at least one scorable row
    tp_weight: FloatArray  # per row: sigma(y)/SIGMA_MAX inside windows, else 0
    fp_weight: FloatArray  # per scorable row outside windows: sigma(y) in [-1, 0), else 0
    in_window: BoolArray

    @property
    def n_rows(self) -> int:
        """Number of rows in the file."""
        return len(self.tp_weight)


def window_rows(ts_ms: IntArray, windows_ms: Sequence[tuple[int, int]]) -> IntArray:
    """Windows of (start_ms, end_ms) as inclusive row ranges; windows holding no row vanish.

    A window spans its first to its last row whose timestamp lies in it. Rows, not times, are
    the unit: real NAB files hold a few repeated or backward timestamps, kept in file order.
    """
    ranges = []
    for start_ms, end_ms in sorted(windows_ms):
        inside = np.flatnonzero((ts_ms >= start_ms) & (ts_ms <= end_ms))
        if len(inside):
            ranges.append((int(inside[0]), int(inside[-1])))
    rows = np.array(ranges, dtype=np.int64).reshape(-1, 2)
    if np.any(rows[1:, 0] <= rows[:-1, 1]):
        raise InvalidInputError(("windows",), "anomaly windows overlap")
    return rows


def file_layout(ts_ms: IntArray, windows_ms: Sequence[tuple[int, int]]) -> FileLayout:
    """Precompute the per-row reward and cost factors of one labelled file."""
    n_rows, rows = len(ts_ms), window_rows(ts_ms, windows_ms)
    index = np.arange(n_rows, dtype=np.float64)
    tp, fp = np.zeros(n_rows), np.full(n_rows, -1.0)
    in_window = np.zeros(n_rows, dtype=np.bool_)
    next_starts = [*rows[1:, 0].tolist(), n_rows][: len(rows)]
    for (start, end), next_start in zip(rows.tolist(), next_starts, strict=True):
        width = end - start + 1
        tp[start : end + 1] = scaled_sigmoid(-(end - index[start : end + 1] + 1) / width)
        in_window[start : end + 1] = True
        fp[end + 1 : next_start] = scaled_sigmoid(
            past_window(index[end + 1 : next_start] - end, width)
        )
    probation = probationary_rows(n_rows)
    fp[in_window] = 0.0
    fp[:probation] = 0.0
    scorable = rows[rows[:, 1] >= probation] if len(rows) else rows
    return FileLayout(probation, scorable, tp / SIGMA_MAX, fp, in_window)


def _checked(layout: FileLayout, detections: npt.ArrayLike) -> BoolArray:
    """Detections as a fresh boolean array with the probationary rows cleared."""
    hits = np.array(detections, dtype=np.bool_)
    if hits.shape != (layout.n_rows,):
        raise InvalidInputError(("detections",), f"need {layout.n_rows} rows, got {hits.shape}")
    hits[: layout.probation] = False
    return hits


def file_score(layout: FileLayout, detections: npt.ArrayLike, profile: Profile) -> float:
    """Raw NAB score of one file for a boolean detection per row."""
    hits = _checked(layout, detections)
    total = profile.a_fp * float(layout.fp_weight[hits].sum())
    for start, end in layout.windows.tolist():
        found = np.flatnonzero(hits[start : end + 1])
        total += profile.a_tp * layout.tp_weight[start + found[0]] if len(found) else -profile.a_fn
    return float(total)


def perfect_detections(layout: FileLayout) -> BoolArray:
    """The perfect detector: fires at the first scorable row of each window, nowhere else."""
    hits = np.zeros(layout.n_rows, dtype=np.bool_)
    hits[np.maximum(layout.windows[:, 0], layout.probation)] = True
    return hits


@dataclass(frozen=True)
class ProfileScore:
    """A corpus-level NAB result for one profile."""

    profile: str
    score: float  # normalised: 0 = never fires, 100 = perfect
    raw: float
    null: float
    perfect: float
    threshold: float | None  # None when scoring given decisions


def normalised(raw: float, null: float, perfect: float) -> float:
    """100 * (raw - null) / (perfect - null)."""
    if perfect <= null:
        raise EvaluationError("no scorable anomaly window: the NAB score is undefined")
    return 100.0 * (raw - null) / (perfect - null)


def _bounds(layouts: Sequence[FileLayout], profile: Profile) -> tuple[float, float]:
    """Corpus raw scores of the null and the perfect detector."""
    null = sum(-profile.a_fn * len(layout.windows) for layout in layouts)
    perfect = sum(file_score(lay, perfect_detections(lay), profile) for lay in layouts)
    return float(null), float(perfect)


def _result(
    layouts: Sequence[FileLayout], profile: Profile, raw: float, threshold: float | None
) -> ProfileScore:
    """Package a raw corpus score with its normalisation."""
    null, perfect = _bounds(layouts, profile)
    return ProfileScore(profile.name, normalised(raw, null, perfect), raw, null, perfect, threshold)


def score_decisions(
    layouts: Sequence[FileLayout],
    decisions: Sequence[npt.ArrayLike],
    profiles: Sequence[Profile] = PROFILES,
) -> tuple[ProfileScore, ...]:
    """NAB scores of given per-file boolean decisions (e.g. a product's own is_anomaly)."""
    if len(layouts) != len(decisions):
        raise InvalidInputError(("decisions",), "need one decision array per file")
    pairs = list(zip(layouts, decisions, strict=True))
    return tuple(
        _result(layouts, prof, sum(file_score(lay, hits, prof) for lay, hits in pairs), None)
        for prof in profiles
    )


def _ranked(scores: npt.ArrayLike) -> FloatArray:
    """Scores as a fresh float array, NaN (no score, e.g. probation) mapped to -inf."""
    values = np.array(scores, dtype=np.float64)
    if np.any(values == np.inf):
        raise InvalidInputError(("scores",), "scores must be finite, NaN or -inf")
    return np.nan_to_num(values, nan=-np.inf, neginf=-np.inf)


def detections_at(scores: npt.ArrayLike, threshold: float) -> BoolArray:
    """Rows whose score is >= threshold; NaN and -inf never detect."""
    return np.asarray(_ranked(scores) >= threshold, dtype=np.bool_)


def score_at_threshold(
    layouts: Sequence[FileLayout],
    scores: Sequence[npt.ArrayLike],
    threshold: float,
    profiles: Sequence[Profile] = PROFILES,
) -> tuple[ProfileScore, ...]:
    """NAB scores when every row with score >= threshold is a detection."""
    decisions = [detections_at(s, threshold) for s in scores]
    return tuple(
        replace(result, threshold=threshold)
        for result in score_decisions(layouts, decisions, profiles)
    )


def _window_steps(layout: FileLayout, s: FloatArray, start: int, end: int) -> FloatArray:
    """Steps of one window: only running-maximum records can become its first detection.

    At threshold t the first detection is the first row whose running maximum reaches t.
    The largest record swaps the miss for its reward; each smaller record moves the
    detection earlier, adding the difference of rewards.
    """
    lo = max(start, layout.probation)
    running = np.maximum.accumulate(s[lo : end + 1])
    rec = np.flatnonzero(np.r_[True, running[1:] > running[:-1]] & np.isfinite(running))
    reward = layout.tp_weight[lo + rec]
    d_fn = np.zeros(len(rec))
    d_fn[-1:] = 1.0
    d_tp = reward - np.r_[reward[1:], 0.0]
    return np.column_stack((s[lo + rec], d_tp, np.zeros(len(rec)), d_fn))


def _file_steps(layout: FileLayout, scores: npt.ArrayLike) -> FloatArray:
    """Rows (value, d_tp, d_fp, d_fn): how the raw score moves as the threshold drops past value."""
    s = _ranked(scores)
    s[: layout.probation] = -np.inf
    fp_rows = np.flatnonzero(~layout.in_window & np.isfinite(s))
    zeros = np.zeros(len(fp_rows))
    steps = [np.column_stack((s[fp_rows], zeros, layout.fp_weight[fp_rows], zeros))]
    steps += [_window_steps(layout, s, a, b) for a, b in layout.windows.tolist()]
    return np.concatenate(steps)


def _best_threshold(steps: FloatArray, profile: Profile) -> float:
    """The highest threshold with the largest total gain over never firing (+inf if none)."""
    weights = np.array([profile.a_tp, profile.a_fp, profile.a_fn])
    group_ends = np.r_[steps[1:, 0] != steps[:-1, 0], True]
    gains = np.cumsum(steps[:, 1:] @ weights)[group_ends]
    best = int(np.argmax(gains))
    return float(steps[group_ends, 0][best]) if gains[best] > 0 else math.inf


def optimise_threshold(
    layouts: Sequence[FileLayout],
    scores: Sequence[npt.ArrayLike],
    profiles: Sequence[Profile] = PROFILES,
) -> tuple[ProfileScore, ...]:
    """Per profile, the single corpus-wide threshold maximising the normalised score.

    Exact over every distinct score value (no subsampling): one sort of the O(rows) score
    steps and a cumulative sum; the chosen threshold is then re-scored directly. Ties go to
    the highest threshold; if nothing beats never firing, the threshold is +inf (score 0).
    """
    if len(layouts) != len(scores):
        raise InvalidInputError(("scores",), "need one score array per file")
    steps = np.concatenate([np.empty((0, 4)), *map(_file_steps, layouts, scores)])
    if not len(steps):
        return score_at_threshold(layouts, scores, math.inf, profiles)
    steps = steps[np.argsort(-steps[:, 0], kind="stable")]
    return tuple(
        score_at_threshold(layouts, scores, _best_threshold(steps, prof), (prof,))[0]
        for prof in profiles
    )
