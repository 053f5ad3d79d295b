"""Replays of one registered configuration over a labelled corpus, cached on disk.

A replay is the product's backtest (`run_backtest`: no look-ahead, the product's retraining
schedule) of one algorithm with some parameter overrides. Its per-file scores and shipped
decisions are stored under `bench-results/loco-cache/` (gitignored) as one `.npz` per
configuration, keyed by the algorithm, its *effective* parameters (every default filled in by
the registry), the retraining schedule, the corpus's rows, and the source of the detection
and replay code: after any change to a detector the key changes and the replay runs again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forewarn.detection.registry import build_detector
from forewarn.evaluation.backtest import Retraining, run_backtest
from forewarn.evaluation.corpus import LabelledSeries
from forewarn.evaluation.replay import sweep_scores

REPO = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO / "bench-results" / "loco-cache"
SOURCES = (
    *sorted((REPO / "forewarn" / "detection").glob("*.py")),
    *(REPO / "forewarn" / "evaluation" / f"{m}.py" for m in ("replay", "detectors", "backtest")),
)


@dataclass(frozen=True)
class Replayed:
    """Per-file scores and shipped decisions of one configuration, in corpus order."""

    params: dict[str, Any]  # effective parameters
    scores: list[np.ndarray]
    flags: list[np.ndarray]
    seconds: float  # wall time of the replay when it ran (not of a cache read)
    cached: bool


def effective_params(algorithm: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The registry's parameters for these overrides (raises InvalidInputError if refused)."""
    return build_detector(algorithm, overrides).params


def cache_key(algorithm: str, params: Mapping[str, Any], corpus: Sequence[LabelledSeries]) -> str:
    """A digest of everything a replay depends on."""
    digest = hashlib.sha256()
    head = {"algorithm": algorithm, "params": params, "retraining": asdict(Retraining())}
    digest.update(json.dumps(head, sort_keys=True, default=str).encode())
    for series in corpus:
        digest.update(series.name.encode())
        digest.update(series.ts_ms.tobytes())
        digest.update(series.values.tobytes())
    for path in SOURCES:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def _load(path: Path, n_files: int, params: dict[str, Any]) -> Replayed | None:
    """A cached replay, or None if absent or not of this corpus."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as stored:
        if int(stored["n_files"]) != n_files:
            return None
        scores = [stored[f"scores_{k}"] for k in range(n_files)]
        flags = [stored[f"flags_{k}"] for k in range(n_files)]
        return Replayed(params, scores, flags, float(stored["seconds"]), cached=True)


def _save(path: Path, replayed: Replayed) -> None:
    """Store a replay (atomically: a half-written file is never read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"scores_{k}": s for k, s in enumerate(replayed.scores)}
    arrays |= {f"flags_{k}": f for k, f in enumerate(replayed.flags)}
    partial = path.with_suffix(".partial.npz")
    np.savez_compressed(partial, n_files=len(replayed.scores), seconds=replayed.seconds, **arrays)
    partial.replace(path)


def replay(
    algorithm: str,
    overrides: Mapping[str, Any],
    corpus: Sequence[LabelledSeries],
    *,
    use_cache: bool = True,
) -> Replayed:
    """Backtest one configuration on one worker, or read it from the cache."""
    params = effective_params(algorithm, overrides)
    path = CACHE_DIR / f"{algorithm}-{cache_key(algorithm, params, corpus)}.npz"
    found = _load(path, len(corpus), params) if use_cache else None
    if found is not None:
        return found
    started = time.perf_counter()
    report = run_backtest(corpus, algorithm, dict(overrides), workers=1)
    replays = report.evaluation.replays
    replayed = Replayed(
        params,
        [sweep_scores(r.scores) for r in replays],
        [r.is_anomaly for r in replays],
        time.perf_counter() - started,
        cached=False,
    )
    _save(path, replayed)
    return replayed
