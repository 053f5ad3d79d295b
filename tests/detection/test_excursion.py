"""The excursion score: a continuous score that favours the first reading of an excursion."""

from __future__ import annotations

from forewarn.detection.decision import REPEAT_SHARE, ExcursionScore


def test_excursion_score_keeps_only_the_first_reading_of_an_excursion() -> None:
    excursion = ExcursionScore(levels=(0.2, 0.4, 0.6), quiet_rows=3)
    calm, high = [0.05] * 5, [0.7] * 5
    scores = [excursion.update(s) for s in calm + high + calm + high]
    assert scores[5] == 0.7 and scores[15] == 0.7  # each excursion starts at full score
    assert scores[6:10] == [REPEAT_SHARE * 0.7] * 4
    assert scores[:5] == calm and scores[10:15] == calm


def test_a_stronger_reading_within_an_excursion_keeps_its_score() -> None:
    excursion = ExcursionScore(levels=(0.2, 0.4, 0.6), quiet_rows=3)
    scores = [excursion.update(s) for s in (0.05, 0.3, 0.3, 0.5, 0.5, 0.7)]
    assert scores == [0.05, 0.3, REPEAT_SHARE * 0.3, 0.5, REPEAT_SHARE * 0.5, 0.7]
