"""Leave-one-category-out cross-validation of a detector's configuration and threshold.

The published NAB scoreboard picks one threshold on the very files it scores, which flatters
every detector; choosing among configurations the same way flatters it more. Here each NAB
category is held out in turn: the configuration and the threshold that maximise the
normalised NAB score on the *other* categories are chosen (exactly, with
`optimise_threshold`), and the held-out files are scored with that choice. Pooling every
file scored with its own fold's choice, normalised over the whole corpus as NAB does, gives
a figure no file has helped to tune.

Inputs are replays already made: per configuration, one score array per file (NaN where
nothing was scored), in corpus order. Ties go to the configuration listed first, so list the
shipped one first. A configuration can also be judged on its own decisions (the shipped
`is_anomaly`, e.g. one per value of the shipped threshold's parameter):
`leave_one_category_out_decisions` then chooses among configurations and sweeps nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from forewarn.errors import InvalidInputError
from forewarn.evaluation.nab import (
    PROFILES,
    BoolArray,
    EvaluationError,
    FileLayout,
    Profile,
    ProfileScore,
    detections_at,
    file_score,
    optimise_threshold,
    score_decisions,
)

ScoresByConfig = Mapping[str, Sequence[npt.ArrayLike]]
STANDARD = PROFILES[0]
T = TypeVar("T")


@dataclass(frozen=True)
class Choice:
    """A configuration and a threshold, with the normalised score they reach where chosen."""

    config: str
    threshold: float
    score: float


@dataclass(frozen=True)
class Fold:
    """One held-out category: the choice made without it, and how its files then score."""

    held_out: str
    files: tuple[int, ...]  # indices, in corpus order, of the held-out files
    choice: Choice  # chosen on every other file
    raw: float  # raw NAB score of the held-out files with that choice
    score: float | None  # normalised over the held-out files; None if they hold no window


@dataclass(frozen=True)
class CrossValidation:
    """Every fold, and the pooled score of all files each scored with its fold's choice."""

    profile: str
    folds: tuple[Fold, ...]
    pooled: ProfileScore


def _subset(items: Sequence[T], files: Sequence[int]) -> list[T]:
    """The items at the given indices."""
    return [items[i] for i in files]


def best_choice(
    layouts: Sequence[FileLayout],
    scores: ScoresByConfig,
    files: Sequence[int],
    profile: Profile = STANDARD,
) -> Choice:
    """The configuration and threshold with the best normalised score on `files`."""
    if not scores:
        raise InvalidInputError(("scores",), "need at least one configuration")
    chosen = [layouts[i] for i in files]
    best: Choice | None = None
    for config, per_file in scores.items():
        if len(per_file) != len(layouts):
            raise InvalidInputError(("scores", config), "need one score array per file")
        result = optimise_threshold(chosen, _subset(per_file, files), (profile,))[0]
        threshold = result.threshold if result.threshold is not None else float("inf")
        if best is None or result.score > best.score:
            best = Choice(config, threshold, result.score)
    assert best is not None
    return best


def choice_decisions(
    scores: ScoresByConfig, choice: Choice, files: Sequence[int]
) -> dict[int, BoolArray]:
    """The detections of `files` under a choice, by file index."""
    return {i: detections_at(scores[choice.config][i], choice.threshold) for i in files}


def score_choice(
    layouts: Sequence[FileLayout],
    scores: ScoresByConfig,
    choice: Choice,
    files: Sequence[int],
    profile: Profile = STANDARD,
) -> tuple[float, float | None]:
    """Raw and normalised score of `files` under a choice; normalised is None when they hold
    no window (the score is then only the false positives' cost)."""
    hits = list(choice_decisions(scores, choice, files).values())
    return _score_hits(_subset(layouts, files), hits, profile)


def _score_hits(
    layouts: Sequence[FileLayout], hits: Sequence[BoolArray], profile: Profile
) -> tuple[float, float | None]:
    """Raw and normalised score of detections (normalised None without a window)."""
    raw = sum(file_score(layout, h, profile) for layout, h in zip(layouts, hits, strict=True))
    try:
        return raw, score_decisions(layouts, hits, (profile,))[0].score
    except EvaluationError:
        return raw, None


def best_decisions(
    layouts: Sequence[FileLayout],
    decisions: ScoresByConfig,
    files: Sequence[int],
    profile: Profile = STANDARD,
) -> Choice:
    """The configuration whose own decisions (its shipped threshold: nothing is swept) score
    best on `files`; the choice's threshold is NaN."""
    if not decisions:
        raise InvalidInputError(("decisions",), "need at least one configuration")
    chosen = [layouts[i] for i in files]
    best: Choice | None = None
    for config, per_file in decisions.items():
        if len(per_file) != len(layouts):
            raise InvalidInputError(("decisions", config), "need one decision array per file")
        score = score_decisions(chosen, _subset(per_file, files), (profile,))[0].score
        if best is None or score > best.score:
            best = Choice(config, math.nan, score)
    assert best is not None
    return best


Chooser = Callable[[Sequence[int]], Choice]  # training files -> choice
Decider = Callable[[Choice, Sequence[int]], dict[int, BoolArray]]  # choice, files -> hits


def _fold(
    category: str, categories: Sequence[str], layouts: Sequence[FileLayout],
    choose: Chooser, decide: Decider, profile: Profile,
) -> Fold:  # fmt: skip
    """Choose on every other category, then score this one."""
    held = tuple(i for i, c in enumerate(categories) if c == category)
    choice = choose([i for i, c in enumerate(categories) if c != category])
    raw, score = _score_hits(_subset(layouts, held), list(decide(choice, held).values()), profile)
    return Fold(category, held, choice, raw, score)


def _cross_validate(
    categories: Sequence[str], layouts: Sequence[FileLayout],
    choose: Chooser, decide: Decider, profile: Profile,
) -> CrossValidation:  # fmt: skip
    """One fold per category (in order of first appearance) and the pooled corpus score."""
    if len(categories) != len(layouts):
        raise InvalidInputError(("categories",), "need one category per file")
    names = list(dict.fromkeys(categories))
    if len(names) < 2:
        raise InvalidInputError(("categories",), "need at least two categories to hold one out")
    folds = tuple(_fold(name, categories, layouts, choose, decide, profile) for name in names)
    hits: dict[int, BoolArray] = {}
    for fold in folds:
        hits |= decide(fold.choice, fold.files)
    pooled = score_decisions(layouts, [hits[i] for i in range(len(layouts))], (profile,))
    return CrossValidation(profile.name, folds, pooled[0])


def leave_one_category_out(
    categories: Sequence[str],
    layouts: Sequence[FileLayout],
    scores: ScoresByConfig,
    profile: Profile = STANDARD,
) -> CrossValidation:
    """Configuration and threshold chosen per fold; every file scored with its fold's choice."""
    choose = partial(best_choice, layouts, scores, profile=profile)
    decide = partial(choice_decisions, scores)
    return _cross_validate(categories, layouts, choose, decide, profile)


def leave_one_category_out_decisions(
    categories: Sequence[str],
    layouts: Sequence[FileLayout],
    decisions: ScoresByConfig,
    profile: Profile = STANDARD,
) -> CrossValidation:
    """As `leave_one_category_out` for configurations that decide for themselves (their
    shipped `is_anomaly`): each fold picks the configuration, never a threshold."""
    choose = partial(best_decisions, layouts, decisions, profile=profile)

    def decide(choice: Choice, files: Sequence[int]) -> dict[int, BoolArray]:
        return {i: np.asarray(decisions[choice.config][i], dtype=bool) for i in files}

    return _cross_validate(categories, layouts, choose, decide, profile)
