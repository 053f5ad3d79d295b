"""NAB scoring contracts on hand-made series: bounds, window rewards, false-alarm costs, sweep."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from forewarn.errors import InvalidInputError
from forewarn.evaluation.nab import (
    PROFILES,
    SIGMA_MAX,
    BoolArray,
    EvaluationError,
    FileLayout,
    IntArray,
    Profile,
    file_layout,
    file_score,
    optimise_threshold,
    perfect_detections,
    probationary_rows,
    scaled_sigmoid,
    score_at_threshold,
    score_decisions,
    window_rows,
)

T0 = 1_396_310_400_000  # 2014-04-01 00:00 UTC
MINUTE = 60_000
STANDARD, LOW_FP, LOW_FN = PROFILES
N = 1000  # probation = 150 rows
WINDOW = (400, 449)  # w = 50


def stamps(n: int = N) -> IntArray:
    """One row a minute."""
    return T0 + MINUTE * np.arange(n, dtype=np.int64)


def layout_of(windows: Sequence[tuple[int, int]] = (WINDOW,), n: int = N) -> FileLayout:
    """A file of n rows whose windows are given as row ranges."""
    ts = stamps(n)
    return file_layout(ts, [(int(ts[a]), int(ts[b])) for a, b in windows])


def hits(*rows: int, n: int = N) -> BoolArray:
    """Detections at the given rows."""
    out = np.zeros(n, dtype=np.bool_)
    out[list(rows)] = True
    return out


def nab(layout: FileLayout, detections: BoolArray, profile: Profile = STANDARD) -> float:
    """Normalised score of a one-file corpus."""
    return score_decisions([layout], [detections], (profile,))[0].score


def sigma(y: float) -> float:
    """The definition, written out."""
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


@pytest.mark.parametrize(
    ("n", "expected"), [(0, 0), (6, 0), (7, 1), (100, 15), (4032, 604), (5000, 750), (22695, 750)]
)
def test_probationary_rows(n: int, expected: int) -> None:
    assert probationary_rows(n) == expected


def test_scaled_sigmoid_is_the_definition() -> None:
    ys = np.linspace(-3, 3, 61)
    assert np.allclose(scaled_sigmoid(ys), [sigma(y) for y in ys])
    assert pytest.approx(sigma(-1.0)) == SIGMA_MAX
    assert float(scaled_sigmoid(1e6)) == -1.0  # no overflow far away


def test_window_rows_are_inclusive_and_empty_windows_vanish() -> None:
    ts = stamps(100)
    windows = [(int(ts[10]) - 30_000, int(ts[20])), (int(ts[30]) + 1, int(ts[30]) + 2)]
    assert window_rows(ts, windows).tolist() == [[10, 20]]
    with pytest.raises(InvalidInputError):
        window_rows(ts, [(int(ts[10]), int(ts[20])), (int(ts[20]), int(ts[25]))])


def test_null_is_zero_and_perfect_is_hundred_for_every_profile() -> None:
    layouts = [layout_of(), layout_of(((300, 309), (700, 799))), layout_of(())]
    for profile in PROFILES:
        null = score_decisions(layouts, [hits() for _ in layouts], (profile,))[0]
        best = score_decisions(layouts, [perfect_detections(x) for x in layouts], (profile,))[0]
        assert null.score == 0.0
        assert best.score == pytest.approx(100.0)
        assert best.perfect == pytest.approx(3 * profile.a_tp)
        assert null.null == -3 * profile.a_fn


def test_earlier_detection_earns_more_and_a_late_one_beats_a_miss() -> None:
    layout = layout_of()
    early, late, last = (nab(layout, hits(row)) for row in (405, 440, 449))
    assert 100.0 > early > late > last > 0.0


@pytest.mark.parametrize("row", [400, 420, 449])
def test_detection_reward_is_the_normalised_sigmoid(row: int) -> None:
    start, end = WINDOW
    expected = sigma(-(end - row + 1) / (end - start + 1)) / sigma(-1.0)
    assert file_score(layout_of(), hits(row), STANDARD) == pytest.approx(expected)


def test_second_detection_in_a_window_adds_nothing() -> None:
    layout = layout_of()
    assert nab(layout, hits(410, 411, 440)) == nab(layout, hits(410))


def test_false_positives_cost() -> None:
    layout = layout_of()
    one, two = nab(layout, hits(400, 800)), nab(layout, hits(400, 800, 900))
    assert 100.0 > one > two


def test_false_positive_just_after_a_window_costs_less_than_a_far_one() -> None:
    layout = layout_of()
    near, far = (file_score(layout, hits(row), STANDARD) + 1.0 for row in (452, 900))
    assert near < 0.0 and far < near
    assert near == pytest.approx(0.11 * sigma(3 / 49))  # NAB divides by w - 1 = 49
    assert far == pytest.approx(0.11 * sigma(451 / 49))


def test_false_positive_position_divides_by_the_width_less_one() -> None:
    # NAB's sweeper: a detection at row i after a window whose last row is e and whose width
    # is w rows sits at y = |e - i| / (w - 1). Window rows 400..409: w = 10, e = 409.
    # Detection at 412: y = 3 / 9 = 1/3, sigma(1/3) = 2 / (1 + e^(5/3)) - 1
    #   = 2 / (1 + 5.294490) - 1 = -0.682262, so the standard cost is 0.11 * -0.682262
    #   = -0.0750488. Dividing by w instead would give y = 0.3 and -0.0698664.
    layout = layout_of(((400, 409),))
    cost = file_score(layout, hits(412), STANDARD) + 1.0  # + 1: the missed window
    assert cost == pytest.approx(-0.0750488, abs=1e-7)


def test_false_positive_after_a_one_row_window_costs_the_full_weight() -> None:
    # w - 1 = 0: NAB's position is a division by zero; its limit is infinitely far.
    layout = layout_of(((400, 400),))
    assert file_score(layout, hits(401), STANDARD) + 1.0 == pytest.approx(-0.11)


def test_false_positive_before_any_window_costs_the_full_weight() -> None:
    for profile in PROFILES:
        cost = file_score(layout_of(), hits(200), profile) + profile.a_fn
        assert cost == pytest.approx(-profile.a_fp)


def test_probationary_detections_are_ignored() -> None:
    layout = layout_of()
    assert nab(layout, hits(0, 10, 149)) == 0.0
    assert nab(layout, hits(0, 149, 400)) == pytest.approx(100.0)


def test_windows_inside_probation_vanish_and_straddling_ones_start_scoring_at_probation() -> None:
    assert len(layout_of(((10, 20), WINDOW)).windows) == 1
    layout = layout_of(((140, 160),))
    assert np.flatnonzero(perfect_detections(layout)).tolist() == [150]
    assert nab(layout, hits(150)) == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("profile", "expected"),
    [(STANDARD, 100 * 1.89 / 2), (LOW_FP, 100 * 1.78 / 2), (LOW_FN, 100 * 2.89 / 3)],
)
def test_each_profile_weighs_a_hit_and_a_false_alarm(profile: Profile, expected: float) -> None:
    assert nab(layout_of(), hits(200, 400), profile) == pytest.approx(expected)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        score_decisions([layout_of()], [hits(n=N - 1)])
    with pytest.raises(InvalidInputError):
        score_decisions([layout_of()], [])
    with pytest.raises(EvaluationError, match="no scorable"):
        score_decisions([layout_of(())], [hits()])
    with pytest.raises(InvalidInputError, match="finite"):
        optimise_threshold([layout_of()], [np.full(N, np.inf)])


def test_score_never_exceeds_hundred() -> None:
    layouts = [layout_of(), layout_of(((300, 309), (700, 799)))]
    rng = np.random.default_rng(0)
    for _ in range(30):
        decisions = [rng.random(N) < rng.uniform(0.0, 0.05) for _ in layouts]
        assert all(r.score <= 100.0 + 1e-9 for r in score_decisions(layouts, decisions))


def _random_scores(rng: np.random.Generator) -> list[np.ndarray]:
    """Coarse scores (so values tie), bumped inside windows, with a few NaN rows."""
    scores = [np.round(rng.random(N), 2) for _ in range(3)]
    scores[0][405:420] += 0.5
    scores[2][[10, 500]] = np.nan
    return scores


def test_threshold_sweep_matches_brute_force() -> None:
    layouts = [layout_of(), layout_of(((300, 309), (700, 799))), layout_of(())]
    scores = _random_scores(np.random.default_rng(1))
    distinct = np.unique(np.concatenate(scores))
    candidates = [*distinct[np.isfinite(distinct)].tolist(), math.inf]
    optimal = optimise_threshold(layouts, scores)
    for i, result in enumerate(optimal):
        brute = [score_at_threshold(layouts, scores, t, PROFILES[i : i + 1])[0] for t in candidates]
        best = max(brute, key=lambda r: r.score)
        assert result.score == pytest.approx(best.score)
        assert result.threshold is not None and result.score >= 0.0
        direct = score_at_threshold(layouts, scores, result.threshold, PROFILES[i : i + 1])[0]
        assert direct.score == pytest.approx(result.score)


def test_threshold_sweep_never_fires_when_every_score_points_outside_windows() -> None:
    scores = np.zeros(N)
    scores[[200, 600, 900]] = 1.0
    result = optimise_threshold([layout_of()], [scores])[0]
    assert result.threshold == math.inf and result.score == 0.0
