"""Leave-one-category-out cross-validation and an ablation of the default detector on NAB.

Run (one worker process; replays are cached in bench-results/loco-cache/, so a re-run
after a scoring change takes seconds and one after a detector change replays again):

    .venv/bin/python benchmarks/bench_loco.py [NAB_DIR]              # LOCO over the grid
    .venv/bin/python benchmarks/bench_loco.py [NAB_DIR] --ablation   # one part removed at a time
    add --fresh to ignore the cache

Every configuration is the default algorithm built by the registry (`build_detector`, the one
source of defaults) with a few overrides, replayed once with the product's backtest (no
look-ahead, product retraining schedule). LOCO: for each NAB category held out, the
configuration and the threshold maximising the standard-profile normalised score on the other
categories are chosen and the held-out files scored with them; the pooled figure scores every
file with its fold's choice, normalised over the whole corpus. Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _replay_cache import Replayed, effective_params, replay
from rich.console import Console
from rich.table import Table

from forewarn.detection.registry import DEFAULT_ALGORITHM, algorithm
from forewarn.errors import InvalidInputError
from forewarn.evaluation.corpus import LabelledSeries, load_corpus
from forewarn.evaluation.crossval import (
    CrossValidation,
    best_choice,
    leave_one_category_out,
    leave_one_category_out_decisions,
    score_choice,
)
from forewarn.evaluation.nab import (
    PROFILES,
    FileLayout,
    ProfileScore,
    file_layout,
    optimise_threshold,
    score_decisions,
)

REPO = Path(__file__).resolve().parents[1]
NAB_DIR = REPO.parent / "shared" / "data" / "nab"
Edit = Callable[[Mapping[str, Any]], dict[str, Any]]  # registry defaults -> overrides
Scores = dict[str, list[np.ndarray]]  # per configuration, per-file scores


@dataclass(frozen=True)
class Variant:
    """A labelled configuration: overrides computed from the registry's defaults."""

    label: str
    edit: Edit


def _set(**overrides: Any) -> Edit:
    """Fixed overrides."""
    return lambda _defaults: dict(overrides)


def _members(change: Callable[[list[str]], list[str]]) -> Edit:
    """The default members, changed."""
    return lambda defaults: {"members": change(list(defaults["members"]))}


WITHOUT_SEASONAL = _members(lambda m: [x for x in m if x != "seasonal_profile"])
WITHOUT_ROBUST = _members(lambda m: [x for x in m if x != "robust_zscore"])
WITHOUT_RARE = _members(lambda m: [x for x in m if x != "rare_level"])
WITHOUT_SURPRISE = _members(lambda m: [x for x in m if x != "surprise_rate"])
WITH_FOREST = _members(lambda m: [*m, "windowed_forest"])
GRID: tuple[Variant, ...] = (  # the shipped default first: ties go to it
    Variant("default", _set()),
    Variant("short_rows=1", _set(short_rows=1)),
    Variant("short_rows=6", _set(short_rows=6)),
    Variant("long_rows=1000", _set(long_rows=1_000)),
    Variant("long_rows=4000", _set(long_rows=4_000)),
    Variant("range_tolerance=0.01", _set(range_tolerance=0.01)),
    Variant("range_tolerance=0.05", _set(range_tolerance=0.05)),
    Variant("without seasonal member", WITHOUT_SEASONAL),
    Variant("+ windowed_forest member", WITH_FOREST),
)
# `decades` only sets the shipped threshold (the event tracker's): the sweep is unchanged, so
# these are judged on their shipped decisions, by `leave_one_category_out_decisions`.
DECADES: tuple[Variant, ...] = tuple(
    Variant(f"decades={d:g}", _set(decades=d)) for d in (7.0, 6.0, 6.5, 7.5, 8.0)
)
ABLATION: tuple[Variant, ...] = (
    Variant("default", _set()),
    Variant("without seasonal member", WITHOUT_SEASONAL),
    Variant("without robust member", WITHOUT_ROBUST),
    Variant("without rare-level member", WITHOUT_RARE),
    Variant("without surprise-rate member", WITHOUT_SURPRISE),
    Variant("without range check", _set(range_tolerance=math.inf)),
    Variant("short_rows=1 (no averaging)", _set(short_rows=1)),
    Variant("+ windowed_forest member", WITH_FOREST),
)


@dataclass(frozen=True)
class Corpus:
    """The labelled files, their scoring layouts and their categories."""

    series: list[LabelledSeries]
    layouts: list[FileLayout]

    @property
    def categories(self) -> list[str]:
        """Each file's category, in corpus order."""
        return [s.category for s in self.series]


def load(nab: Path) -> Corpus:
    """The NAB files below nab/data with their windows."""
    series = load_corpus(nab / "data", nab / "labels" / "combined_windows.json")
    return Corpus(series, [file_layout(s.ts_ms, s.windows_ms) for s in series])


def run_variants(
    variants: Sequence[Variant], corpus: Corpus, use_cache: bool, console: Console
) -> dict[str, Replayed]:
    """Replay each variant the registry accepts, once per distinct set of parameters."""
    defaults = algorithm(DEFAULT_ALGORITHM).defaults
    done: dict[str, Replayed] = {}
    seen: dict[str, str] = {}
    for variant in variants:
        overrides = variant.edit(defaults)
        try:
            key = repr(sorted(effective_params(DEFAULT_ALGORITHM, overrides).items()))
        except InvalidInputError as err:
            console.print(f"  skipped {variant.label}: {err}")
            continue
        if key in seen:
            console.print(f"  skipped {variant.label}: same parameters as {seen[key]}")
            continue
        seen[key] = variant.label
        done[variant.label] = replay(
            DEFAULT_ALGORITHM, overrides, corpus.series, use_cache=use_cache
        )
        how = "cached" if done[variant.label].cached else "replayed"
        console.print(f"  {how}: {variant.label} ({done[variant.label].seconds:.0f} s)")
    return done


def _f(x: float | None, digits: int = 1) -> str:
    """A number for a table cell; '—' for undefined, 'inf' for never firing."""
    if x is None or math.isnan(x):
        return "—"
    return "inf" if math.isinf(x) else f"{x:.{digits}f}"


def _diff(params: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """The parameters that differ from the default's."""
    changed = {k: v for k, v in params.items() if defaults.get(k) != v}
    text = {k: "+".join(v) if isinstance(v, list | tuple) else str(v) for k, v in changed.items()}
    return ", ".join(f"{k}={v}" for k, v in text.items()) or "(registry defaults)"


def shipped(corpus: Corpus, replayed: Replayed) -> float:
    """Standard score of the product's own decisions."""
    return score_decisions(corpus.layouts, replayed.flags, PROFILES[:1])[0].score


def optimal(corpus: Corpus, replayed: Replayed) -> ProfileScore:
    """Standard score at the corpus-optimal threshold (in-sample)."""
    return optimise_threshold(corpus.layouts, replayed.scores, PROFILES[:1])[0]


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> Table:
    """A Rich table whose first `left` columns are text, the rest right-aligned figures."""
    out = Table(title=title)
    for i, col in enumerate(header):
        out.add_column(col, justify="left" if i < left else "right")
    for row in rows:
        out.add_row(*row)
    return out


def grid_table(corpus: Corpus, runs: dict[str, Replayed]) -> Table:
    """Each configuration in-sample: optimal threshold and shipped decisions."""
    defaults = runs["default"].params
    rows = [
        [label, _diff(r.params, defaults), _f(optimal(corpus, r).score),
         _f(optimal(corpus, r).threshold, 4), _f(shipped(corpus, r)), f"{r.seconds:.0f}"]
        for label, r in runs.items()
    ]  # fmt: skip
    header = ("config", "changed", "opt std", "threshold", "ship std", "replay s")
    return table("Grid, in-sample (25 files, standard profile)", header, rows, left=2)


def fold_table(corpus: Corpus, scores: Scores, title: str) -> Table:
    """One row per held-out category, beside its score under the in-sample choice."""
    result = loco(corpus, scores)
    everywhere = best_choice(corpus.layouts, scores, range(len(corpus.layouts)))
    header = ("held out", "files", "chosen config", "threshold", "train score",
              "held-out score", "held-out raw", "in-sample choice")  # fmt: skip
    rows = [
        [f.held_out, str(len(f.files)), f.choice.config, _f(f.choice.threshold, 4),
         _f(f.choice.score), _f(f.score), _f(f.raw, 2),
         _f(score_choice(corpus.layouts, scores, everywhere, f.files)[1])]
        for f in result.folds
    ]  # fmt: skip
    out = table(title, header, rows)
    out.caption = (
        f"pooled over the corpus: {result.pooled.score:.1f}; in-sample choice:"
        f" {everywhere.config} at {everywhere.threshold:.4f}, {everywhere.score:.1f}"
    )
    return out


def loco(corpus: Corpus, scores: Scores) -> CrossValidation:
    """Leave-one-category-out over the given configurations."""
    return leave_one_category_out(corpus.categories, corpus.layouts, scores)


def decades_table(corpus: Corpus, runs: dict[str, Replayed]) -> tuple[Table, float]:
    """The shipped threshold's decades: each value's shipped score, and per fold the value
    whose shipped decisions score best without the category; and the pooled figure."""
    flags = {label: r.flags for label, r in runs.items()}
    result = leave_one_category_out_decisions(corpus.categories, corpus.layouts, flags)
    rows = [[label, "in-sample", "—", _f(shipped(corpus, r))] for label, r in runs.items()]
    rows += [
        [f.choice.config, f"held out: {f.held_out}", _f(f.choice.score), _f(f.score)]
        for f in result.folds
    ]
    header = ("decades", "scored on", "train ship std", "ship std")
    out = table("Shipped threshold: decades chosen per fold (shipped decisions)", header, rows, 2)
    out.caption = f"pooled over the corpus: {result.pooled.score:.1f}"
    return out, result.pooled.score


def loco_tables(
    corpus: Corpus, runs: dict[str, Replayed], decades: dict[str, Replayed], console: Console
) -> None:
    """Grid, folds, shipped-threshold and summary tables."""
    default = runs["default"]
    every, only = {label: r.scores for label, r in runs.items()}, {"default": default.scores}
    result, fixed = loco(corpus, every), loco(corpus, only)
    best = max(optimal(corpus, r).score for r in runs.values())
    console.print(grid_table(corpus, runs))
    console.print(fold_table(corpus, every, "LOCO: configuration and threshold chosen per fold"))
    console.print(fold_table(corpus, only, "LOCO: threshold only (the shipped configuration)"))
    shipped_table, shipped_loco = decades_table(corpus, decades)
    console.print(shipped_table)
    rows = [
        ["LOCO pooled: config + threshold chosen without the category", result.pooled.score],
        ["LOCO pooled: default config, threshold chosen without the category", fixed.pooled.score],
        ["in-sample: default config, corpus-optimal threshold", optimal(corpus, default).score],
        ["in-sample: best grid config and threshold", best],
        ["shipped: default config, its own is_anomaly", shipped(corpus, default)],
        ["LOCO pooled: shipped decisions, decades chosen without the category", shipped_loco],
    ]  # fmt: skip
    title = "NAB standard score, 25 files"
    console.print(table(title, ("figure", "score"), [[name, _f(x)] for name, x in rows]))


def ablation_table(corpus: Corpus, runs: dict[str, Replayed], console: Console) -> None:
    """Each part removed at a time: optimal-threshold profiles, shipped and LOCO threshold."""
    defaults = runs["default"].params
    rows = [
        [label, _diff(r.params, defaults),
         *(_f(p.score) for p in optimise_threshold(corpus.layouts, r.scores, PROFILES)),
         _f(shipped(corpus, r)), _f(loco(corpus, {label: r.scores}).pooled.score),
         f"{r.seconds:.0f}"]
        for label, r in runs.items()
    ]  # fmt: skip
    header = ("variant", "changed", "opt std", "opt lowFP", "opt lowFN", "ship std",
              "LOCO thr std", "replay s")  # fmt: skip
    console.print(table("Ablation of the default (25 files)", header, rows, left=2))


def main() -> None:
    """Replay (or read) every configuration and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nab", nargs="?", type=Path, default=NAB_DIR)
    parser.add_argument("--ablation", action="store_true", help="ablation table instead of LOCO")
    parser.add_argument("--fresh", action="store_true", help="replay even if cached")
    args = parser.parse_args()
    console = Console(width=180)
    started = time.perf_counter()
    corpus = load(args.nab)
    variants = ABLATION if args.ablation else GRID
    runs = run_variants(variants, corpus, not args.fresh, console)
    if "default" not in runs:
        raise SystemExit("the default configuration could not be built")
    if args.ablation:
        ablation_table(corpus, runs, console)
    else:
        decades = run_variants(DECADES, corpus, not args.fresh, console)
        loco_tables(corpus, runs, decades, console)
    console.print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
