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
shipped one first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

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
    chosen = _subset(layouts, files)
    raw = sum(file_score(layout, h, profile) for layout, h in zip(chosen, hits, strict=True))
    try:
        return raw, score_decisions(chosen, hits, (profile,))[0].score
    except EvaluationError:
        return raw, None


def _fold(
    category: str,
    categories: Sequence[str],
    layouts: Sequence[FileLayout],
    scores: ScoresByConfig,
    profile: Profile,
) -> Fold:
    """Choose on every other category, then score this one."""
    held = tuple(i for i, c in enumerate(categories) if c == category)
    train = [i for i, c in enumerate(categories) if c != category]
    choice = best_choice(layouts, scores, train, profile)
    raw, score = score_choice(layouts, scores, choice, held, profile)
    return Fold(category, held, choice, raw, score)


def leave_one_category_out(
    categories: Sequence[str],
    layouts: Sequence[FileLayout],
    scores: ScoresByConfig,
    profile: Profile = STANDARD,
) -> CrossValidation:
    """One fold per category (in order of first appearance) and the pooled corpus score."""
    if len(categories) != len(layouts):
        raise InvalidInputError(("categories",), "need one category per file")
    names = list(dict.fromkeys(categories))
    if len(names) < 2:
        raise InvalidInputError(("categories",), "need at least two categories to hold one out")
    folds = tuple(_fold(name, categories, layouts, scores, profile) for name in names)
    hits: dict[int, BoolArray] = {}
    for fold in folds:
        hits |= choice_decisions(scores, fold.choice, fold.files)
    pooled = score_decisions(layouts, [hits[i] for i in range(len(layouts))], (profile,))
    return CrossValidation(profile.name, folds, pooled[0])
