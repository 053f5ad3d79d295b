"""Batch scoring gives exactly what one reading at a time gives (`update`, `decide`, `explain`).

Every registered detector's state, with the event tracker deciding on it as the pipeline
scores, is compared on a simulated series with faults, gaps, a repeated timestamp, flat runs
and jittered sampling: the same score bits, decisions, event state, warm-up flags and
explanations, whatever the batch sizes and wherever the batches start, and the
same state afterwards, down to the bits of every float it keeps.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import pytest

from forewarn.detection.base import BatchVerdicts, Detector, VerdictBatchState, decide
from forewarn.detection.batch import EXACT_TS, BatchScoring, prepared
from forewarn.detection.decision import EventGate, ExcursionScore, excursion_score
from forewarn.detection.feature_batch import sliding_extreme
from forewarn.detection.feature_state import FeatureState
from forewarn.detection.features import FeatureLayout
from forewarn.detection.known_range import KnownRange
from forewarn.detection.pca_spc import PcaSpc
from forewarn.detection.registry import ALGORITHMS
from forewarn.detection.tracked import tracked
from forewarn.sim import HUMIDITY, TEMPERATURE, generate, inject

pytestmark = pytest.mark.slow  # every test replays a long series through each algorithm

SPECS = {spec.name: spec for spec in ALGORITHMS}
FEATURE_BASED = [name for name in SPECS if name != "isolation_forest"]
INTERVAL_MS, START_MS = 300_000, 1_704_067_200_000
N_TRAIN, N_SCORED = 2_016, 10_500  # a week of 5-minute training readings: daily features on
# The first spike: where a state primed on 100 readings has seen 300, one short of a range check
FAULTS = (("spike", 199), ("stuck", 320), ("dropout", 900), ("level_shift", 2_000),
          ("drift", 4_000), ("variance_change", 6_000), ("spike", 9_200))  # fmt: skip
# Readings a fresh state warms up for, where not the feature history's (longer than any priming)
# (the robust z-score's features are left out until covered instead: no warm-up at all)
WARM_UP_ROWS = {"seasonal_profile": 0, "pca_spc": PcaSpc().smoothing - 1, "robust_zscore": 0,
                "robust_likelihood": 0, "ensemble": 0, "rare_level": 0,
                "surprise_rate": 0}  # fmt: skip
# A narrower limit than the default, so that this series' faults are flagged and explained
OVERRIDES: dict[str, dict[str, Any]] = {"pca_spc": {"quantile": 0.999}}
FITTED = ("_detector", "_forest", "_score_one")  # references to the model, not its state
Plan = Sequence[tuple[str, int]]  # ("batch" | "one", readings)


def plan(size: int, repeats: int | None = None) -> Plan:
    """Batches of `size` (`repeats` of them, then one batch of the rest)."""
    count = N_SCORED // size if repeats is None else repeats
    return [("batch", size)] * count + [("batch", N_SCORED - size * count)]


PLANS = {
    "1": plan(1, 300),
    "2": plan(2, 200),
    "17": plan(17),
    "1000": plan(1_000),
    "10000": plan(10_000),
    "mixed": [("batch", 250), ("one", 3), ("batch", 17), ("one", 1), ("batch", 1_000),
              ("batch", 1), ("batch", 2), ("one", 40), ("batch", 5_000), ("batch", 4_186)],
}  # fmt: skip


@cache
def series(k: int = 1) -> tuple[list[int], list[Any]]:
    """Jittered 5-minute readings with injected faults, a missing day, a repeated timestamp
    and a flat run; k=2 adds a humidity column with a spike of its own."""
    rng = np.random.default_rng(11)
    n = N_TRAIN + N_SCORED + 400
    ts = START_MS + np.arange(n, dtype=np.int64) * INTERVAL_MS
    values = generate(TEMPERATURE, START_MS, n, INTERVAL_MS, rng)
    for kind, at in FAULTS:
        ts, values, _ = inject(kind, ts, values, TEMPERATURE, N_TRAIN + at, rng)
    keep = np.ones(len(ts), dtype=bool)
    keep[N_TRAIN + 7_000 : N_TRAIN + 7_288] = False  # no reading for a day
    ts, values = ts[keep][: N_TRAIN + N_SCORED], values[keep][: N_TRAIN + N_SCORED]
    ts = ts + rng.integers(0, 30_000, len(ts))
    ts[N_TRAIN + 5_000] = ts[N_TRAIN + 4_999]
    values[N_TRAIN + 8_000 : N_TRAIN + 8_040] = values[N_TRAIN + 8_000]
    if k == 1:
        return ts.tolist(), values.tolist()
    humidity = generate(HUMIDITY, START_MS, len(ts), INTERVAL_MS, rng)
    humidity[N_TRAIN + 3_000] += 40.0
    return ts.tolist(), np.column_stack([values, humidity]).tolist()


@cache
def fitted(name: str, k: int = 1) -> Detector:
    """A detector fitted on the training readings (cached: forests take a while)."""
    ts, values = series(k)
    metrics = ("temperature", "humidity")[:k]
    train_ts, train_values = np.array(ts[:N_TRAIN]), np.array(values[:N_TRAIN])
    made = SPECS[name].create(seed=0, metrics=metrics, **OVERRIDES.get(name, {}))
    return made.fit(train_ts, train_values)


def state(name: str, k: int = 1, primed: int = N_TRAIN) -> VerdictBatchState:
    """A state primed on the last `primed` training readings."""
    ts, values = series(k)
    history = slice(N_TRAIN - primed, N_TRAIN)
    made = tracked(fitted(name, k), np.array(ts[history]), np.array(values[history]))
    assert isinstance(made, VerdictBatchState)
    return made


def one_at_a_time(s: Any, ts: Sequence[int], values: Sequence[Any], threshold: float) -> Any:
    """The reference: `update`, `decide` and `explain` on each reading in turn."""
    out = BatchVerdicts([], [], [], {}, [], [])
    for i, (t, v) in enumerate(zip(ts, values, strict=True)):
        scored = s.update(t, v)
        out.scores.append(scored.score)
        out.flags.append(decide(scored, threshold))
        out.warming_up.append(scored.warming_up)
        out.anomalous.append(scored.anomalous)
        out.event_starts.append(scored.event_start)
        if out.flags[-1]:
            out.explanations[i] = s.explain()
    return out


def run(s: Any, chunks: Plan, ts: list[int], values: list[Any], threshold: float) -> Any:
    """Score in chunks, each in one batch (vectorised whatever its size) or one reading at
    a time."""
    out, at = BatchVerdicts([], [], [], {}, [], []), 0
    small = {"min_batch": 1} if isinstance(s, BatchScoring) else {}
    for how, size in chunks:
        part = (ts[at : at + size], values[at : at + size], threshold)
        got = s.verdict_batch(*part, **small) if how == "batch" else one_at_a_time(s, *part)
        out.scores.extend(got.scores)
        out.flags.extend(got.flags)
        out.warming_up.extend(got.warming_up)
        out.anomalous.extend(got.anomalous)
        out.event_starts.extend(got.event_starts)
        out.explanations.update({at + i: e for i, e in got.explanations.items()})
        at += size
    assert at == len(ts)
    return out


CACHES = {"_ring_array"}  # derived from other state; checked, not compared


def bits(x: Any) -> Any:
    """State as plain data, floats by their bits, so 'equal' means bit-for-bit."""
    if isinstance(x, float):
        return ("float", struct.pack("<d", x))
    if x is None or isinstance(x, bool | int | str):
        return x
    if isinstance(x, np.ndarray):
        return ("array", x.dtype.str, x.shape, x.tobytes())
    if isinstance(x, list | tuple | deque):
        return (type(x).__name__, [bits(v) for v in x])
    if isinstance(x, set):
        return ("set", sorted(repr(v) for v in x))
    if isinstance(x, dict):
        return {k: bits(v) for k, v in x.items()}
    if isinstance(x, FeatureState) and x._ring_array is not None:
        # A cache of the ring left by the last batch: it must hold exactly the ring.
        assert x._ring_array.tobytes() == x.ring_history().tobytes()
    own = {k: bits(v) for k, v in vars(x).items() if k not in FITTED and k not in CACHES}
    return (type(x).__name__, own)


@cache
def reference(name: str, k: int = 1, primed: int = N_TRAIN) -> tuple[BatchVerdicts, Any]:
    """Verdicts and final state of the one-at-a-time path over the scored readings."""
    ts, values = series(k)
    s = state(name, k, primed)
    want = one_at_a_time(s, ts[N_TRAIN:], values[N_TRAIN:], fitted(name, k).threshold_)
    return want, bits(s)


def check(name: str, chunks: Plan, k: int = 1, primed: int = N_TRAIN) -> BatchVerdicts:
    """Scoring in `chunks` gives the reference's score bits, decisions, warm-up flags and
    explanations, and leaves its state."""
    want, want_state = reference(name, k, primed)
    ts, values = series(k)
    s = state(name, k, primed)
    got = run(s, chunks, ts[N_TRAIN:], values[N_TRAIN:], fitted(name, k).threshold_)
    assert bits(got.scores) == bits(want.scores)
    assert (got.flags, got.warming_up) == (want.flags, want.warming_up)
    assert (got.anomalous, got.event_starts) == (want.anomalous, want.event_starts)
    assert got.explanations == want.explanations
    assert bits(s) == want_state
    return want


def test_every_registered_algorithm_scores_in_batches() -> None:
    assert all(isinstance(state(name), VerdictBatchState) for name in SPECS)


@pytest.mark.parametrize("chunks", PLANS.values(), ids=PLANS.keys())
@pytest.mark.parametrize("name", SPECS)
def test_batches_give_what_one_reading_at_a_time_gives(name: str, chunks: Plan) -> None:
    want = check(name, chunks)
    assert any(want.flags)  # faults are reported, so explanations are compared


@pytest.mark.parametrize("primed", [0, 2, 100])
@pytest.mark.parametrize("name", FEATURE_BASED)
def test_warm_up_and_a_fresh_stream_are_batched_exactly(name: str, primed: int) -> None:
    want = check(name, PLANS["mixed"], primed=primed)
    assert any(want.warming_up) == (primed < WARM_UP_ROWS.get(name, N_TRAIN))


@pytest.mark.parametrize(
    "name", ["ensemble", "robust_zscore", "seasonal_profile", "isolation_forest", "pca_spc"]
)
def test_several_metrics_per_reading_are_batched_exactly(name: str) -> None:
    check(name, PLANS["1000"], k=2)


def outcome(s: Any, ts: list[int], values: list[Any], batched: bool) -> Any:
    """What scoring returns or raises, and the state it leaves."""
    try:
        # At the state's own threshold, which `verdict_batch` would otherwise retarget
        limit = s._tracker.threshold
        got = s.verdict_batch(ts, values, limit) if batched else one_at_a_time(s, ts, values, limit)
        result: Any = (bits(got.scores), got.flags, got.explanations)
    except Exception as err:  # the error itself is what is compared
        result = (type(err), str(err))
    return result, bits(s)


@pytest.mark.parametrize("bad", [math.nan, math.inf, [25.0, 26.0], "25.5", None])
@pytest.mark.parametrize("name", ["ensemble", "robust_zscore", "seasonal_profile", "pca_spc"])
def test_a_bad_reading_mid_batch_fails_as_it_would_alone(name: str, bad: Any) -> None:
    ts, values = series()
    ts, values = ts[N_TRAIN : N_TRAIN + 1_000], values[N_TRAIN : N_TRAIN + 1_000]
    values[600] = bad
    got, want = outcome(state(name), ts, values, True), outcome(state(name), ts, values, False)
    assert got == want


def test_only_inputs_numpy_reads_as_python_does_are_batched() -> None:
    assert prepared([1, 2], [1.0, 2], 1)[2] == 2
    assert prepared([1, 2], [[1.0, 2.0], [3.0, math.nan]], 2)[2] == 1
    unusable = [([1, EXACT_TS + 1], [1.0, 2.0]), ([1.5, 2.5], [1.0, 2.0]), ([1, 2], ["1.5", "2"]),
                ([1, 2], [1.0, None]), ([1, 2], [1.0, 2.0, 3.0])]  # fmt: skip
    assert all(prepared(ts, values, 1)[2] == 0 for ts, values in unusable)


def bursty_scores(n: int, seed: int) -> np.ndarray:
    """Mostly calm scores in [0, 1) with bursts of high ones, like an excursion score."""
    rng = np.random.default_rng(seed)
    scores = rng.beta(1.0, 8.0, n)
    for start in rng.integers(0, n, n // 200):
        scores[start : start + rng.integers(1, 60)] += rng.uniform(0.2, 0.8)
    return np.minimum(scores, 0.999)


@pytest.mark.parametrize("quiet_rows", [0, 1, 12, 48])
@pytest.mark.parametrize("release", [-1.0, 0.05, 0.6])
def test_a_gate_jumping_between_events_decides_as_reading_by_reading(
    quiet_rows: int, release: float
) -> None:
    scores = bursty_scores(5_000, quiet_rows)
    for armed, calm in [(True, 0), (False, 0), (False, 7)]:
        one, many = (EventGate(0.4, release, quiet_rows, armed, calm) for _ in range(2))
        for part in np.array_split(scores, [1, 3, 700, 2_500]):
            want = [one.decide(s) for s in part.tolist()]
            assert many.decide_many(part).tolist() == want
            assert many == one


def test_the_excursion_score_batched_equals_reading_by_reading() -> None:
    scores = bursty_scores(20_000, 3)
    one, many = excursion_score(48), excursion_score(48)
    assert one is not None and many is not None
    for part in np.array_split(scores, [5, 6, 4_000, 15_000]):
        want = [one.update(s) for s in part.tolist()]
        assert bits(many.update_many(part).tolist()) == bits(want)
        assert many == one


def test_an_excursion_score_whose_gates_are_not_nested_falls_back() -> None:
    scores = bursty_scores(3_000, 5)
    one, many = (ExcursionScore((0.2, 0.5), quiet_rows=4) for _ in range(2))
    for gates in (one.gates, many.gates):
        gates[1].armed = False  # a higher gate disarmed under an armed lower one
    assert bits(many.update_many(scores).tolist()) == bits([one.update(s) for s in scores])
    assert many == one


@pytest.mark.parametrize("tolerance", [0.02, 0.0, -0.1])
def test_the_range_check_batched_equals_reading_by_reading(tolerance: float) -> None:
    rng = np.random.default_rng(4)
    values = rng.uniform(-0.9, 0.9, (4_000, 2))
    values[1_000:1_400] += np.linspace(0.0, 3.0, 400)[:, None]  # a slow wander out of range
    for at, apart in [(500, 1), (700, 2), (900, 3), (2_500, 1), (3_000, 2), (3_500, 1)]:
        values[[at, at + apart], at % 2] += 20.0 * rng.choice([-1.0, 1.0])  # far spikes
    one, many = (KnownRange(("a", "b"), [-1.0, -1.0], [1.0, 1.0], tolerance) for _ in range(2))
    for part in np.array_split(values, [1, 2, 702, 1_500, 2_501]):
        want = {i: one.check(row) for i, row in enumerate(part.tolist())}
        got = many.check_many(part)
        assert got == {i: e for i, e in want.items() if i in got}
        assert all(not e for i, e in want.items() if i not in got)
        assert bits(many) == bits(one)


def test_feature_state_after_each_batch_is_the_one_reading_by_reading_leaves() -> None:
    ts = START_MS + np.arange(4_000, dtype=np.int64) * INTERVAL_MS
    x = np.cumsum(np.random.default_rng(8).normal(0.0, 0.2, 4_000)).round(1)  # with repeats
    one, many = (FeatureState(FeatureLayout.learn(ts), 0.05) for _ in range(2))
    at = 0
    for size in (1, 2, 3, 11, 12, 13, 100, 287, 288, 289, 1_000, 1_994):
        part = x[at : at + size]
        want = [one.push(v) for v in part.tolist()]
        assert bits(np.column_stack(many.push_many(part)).tolist()) == bits(want)
        assert bits(many) == bits(one)
        at += size


@pytest.mark.parametrize("h", [1, 2, 3, 5, 12, 64, 100])
def test_sliding_extremes_match_a_plain_window(h: int) -> None:
    a = np.random.default_rng(h).normal(size=300)
    windows = np.lib.stride_tricks.sliding_window_view(a, h)
    assert np.array_equal(sliding_extreme(a, h, np.maximum), windows.max(axis=1))
    assert np.array_equal(sliding_extreme(a, h, np.minimum), windows.min(axis=1))
