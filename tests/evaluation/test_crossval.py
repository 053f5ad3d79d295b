"""Leave-one-category-out contracts: choices made without the held-out files, pooled scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forewarn.errors import InvalidInputError
from forewarn.evaluation.crossval import (
    Choice,
    best_choice,
    best_decisions,
    leave_one_category_out,
    leave_one_category_out_decisions,
    score_choice,
)
from forewarn.evaluation.nab import (
    PROFILES,
    FileLayout,
    FloatArray,
    file_layout,
    score_decisions,
)

T0 = 1_396_310_400_000
MINUTE = 60_000
N = 1000  # probation = 150 rows
WINDOW = (400, 449)
CATEGORIES = ("a", "a", "b", "b", "c")


def layout(windows: tuple[tuple[int, int], ...] = (WINDOW,)) -> FileLayout:
    """A file of N one-minute rows with the given row windows."""
    ts = T0 + MINUTE * np.arange(N, dtype=np.int64)
    return file_layout(ts, [(int(ts[a]), int(ts[b])) for a, b in windows])


def peaks(*rows: int, height: float = 1.0) -> FloatArray:
    """Scores: NaN in probation, 0 elsewhere, `height` at the given rows."""
    out = np.zeros(N)
    out[:150] = np.nan
    out[list(rows)] = height
    return out


def in_sample_best(layouts: list[FileLayout], scores: list[FloatArray]) -> float:
    """The category-a score of a configuration with its threshold chosen on category a."""
    return best_choice(layouts, {"x": scores}, [0, 1]).score


def test_best_choice_finds_the_configuration_and_threshold_that_detect() -> None:
    layouts = [layout() for _ in CATEGORIES]
    scores = {"late": [peaks(800) for _ in layouts], "hit": [peaks(410) for _ in layouts]}
    choice = best_choice(layouts, scores, range(len(layouts)))
    assert (choice.config, choice.threshold) == ("hit", 1.0)
    assert 0.0 < choice.score < 100.0


def test_ties_go_to_the_configuration_listed_first() -> None:
    layouts = [layout() for _ in CATEGORIES]
    same = [peaks(410) for _ in layouts]
    assert best_choice(layouts, {"shipped": same, "other": same}, [0, 1]).config == "shipped"


def test_a_configuration_that_only_suits_the_held_out_category_is_not_chosen_for_it() -> None:
    # "overfit" is perfect on category a and fires far from every window elsewhere; "steady"
    # detects every window late. Chosen without a, "steady" wins, though a alone prefers
    # "overfit": the held-out score is the late detection's, not 100.
    layouts = [layout() for _ in CATEGORIES]
    overfit = [peaks(400) if c == "a" else peaks(900) for c in CATEGORIES]
    steady = [peaks(440, height=0.5) for _ in CATEGORIES]
    result = leave_one_category_out(CATEGORIES, layouts, {"overfit": overfit, "steady": steady})
    fold_a = result.folds[0]
    assert (fold_a.held_out, fold_a.files, fold_a.choice.config) == ("a", (0, 1), "steady")
    late = score_decisions(layouts[:2], [s >= 0.5 for s in steady[:2]], PROFILES[:1])[0]
    assert fold_a.score == pytest.approx(late.score)
    assert in_sample_best(layouts, overfit) > fold_a.score


def test_pooled_score_is_every_file_scored_with_its_folds_choice_over_the_corpus() -> None:
    layouts = [layout() for _ in CATEGORIES]
    hit = [peaks(410) for _ in CATEGORIES]
    result = leave_one_category_out(CATEGORIES, layouts, {"hit": hit})
    expected = score_decisions(layouts, [s >= 1.0 for s in hit], PROFILES[:1])[0]
    assert [f.held_out for f in result.folds] == ["a", "b", "c"]
    assert result.pooled.score == pytest.approx(expected.score)
    assert result.pooled.raw == pytest.approx(sum(f.raw for f in result.folds))


def test_a_category_without_windows_has_a_raw_cost_and_no_normalised_score() -> None:
    # Two false positives in a file with no window cost the full A_fp each: -2 * 0.11.
    categories = ("quiet", "a", "b")
    layouts = [layout(()), layout(), layout()]
    scores = {"hit": [peaks(300, 600), peaks(410), peaks(410)]}
    quiet = leave_one_category_out(categories, layouts, scores).folds[0]
    assert quiet.score is None
    assert quiet.raw == pytest.approx(-0.22)


def test_score_choice_scores_the_given_files_with_the_given_configuration() -> None:
    layouts = [layout() for _ in CATEGORIES]
    scores = {"hit": [peaks(410) for _ in layouts], "late": [peaks(440) for _ in layouts]}
    raw, score = score_choice(layouts, scores, Choice("late", 1.0, 0.0), [2, 3])
    expected = score_decisions(layouts[2:4], [s >= 1.0 for s in scores["late"][2:4]])[0]
    assert (raw, score) == (pytest.approx(expected.raw), pytest.approx(expected.score))


def test_a_never_firing_choice_scores_zero() -> None:
    layouts = [layout() for _ in CATEGORIES]
    result = leave_one_category_out(CATEGORIES, layouts, {"late": [peaks(800) for _ in layouts]})
    assert all(f.choice.threshold == math.inf for f in result.folds)
    assert result.pooled.score == 0.0


def test_bad_inputs_are_refused() -> None:
    layouts = [layout() for _ in CATEGORIES]
    good = {"hit": [peaks(410) for _ in layouts]}
    with pytest.raises(InvalidInputError):
        leave_one_category_out(("a",) * len(layouts), layouts, good)
    with pytest.raises(InvalidInputError):
        leave_one_category_out(CATEGORIES[:-1], layouts, good)
    with pytest.raises(InvalidInputError):
        best_choice(layouts, {"short": [peaks(410)]}, [0])
    with pytest.raises(InvalidInputError):
        best_choice(layouts, {}, [0])


def test_decisions_are_chosen_without_the_held_out_category_and_never_swept() -> None:
    # "early" hits a's and b's windows early but misses c's (with a false positive); "late"
    # hits every window late. Holding a or b out leaves c to favour late; holding c out,
    # early wins and c pays for it.
    layouts = [layout() for _ in CATEGORIES]
    early = [peaks(405) >= 1.0, peaks(405) >= 1.0, peaks(405) >= 1.0, peaks(405) >= 1.0,
             peaks(300) >= 1.0]  # fmt: skip
    late = [peaks(440) >= 1.0 for _ in CATEGORIES]
    result = leave_one_category_out_decisions(CATEGORIES, layouts, {"early": early, "late": late})
    assert [f.choice.config for f in result.folds] == ["late", "late", "early"]
    assert all(math.isnan(f.choice.threshold) for f in result.folds)
    held_c = result.folds[2]
    assert held_c.raw == pytest.approx(-1.0 - 0.11)  # window missed, one false positive
    expected = score_decisions(layouts, [*late[:4], early[4]], PROFILES[:1])[0]
    assert result.pooled.score == pytest.approx(expected.score)


def test_best_decisions_refuses_a_configuration_without_one_array_per_file() -> None:
    layouts = [layout(), layout()]
    with pytest.raises(InvalidInputError):
        best_decisions(layouts, {"x": [peaks(410) >= 1.0]}, [0, 1])
    with pytest.raises(InvalidInputError):
        best_decisions(layouts, {}, [0, 1])
