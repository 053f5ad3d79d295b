"""Loading NAB-layout corpora: UTC timestamps, names relative to the data dir, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from forewarn.errors import InvalidInputError
from forewarn.evaluation.corpus import (
    MIN_TRAIN_ROWS,
    load_corpus,
    load_profiles,
    load_series,
    load_windows,
    parse_timestamp_ms,
    with_training,
)
from forewarn.evaluation.nab import PROFILES, EvaluationError
from tests.evaluation.helpers import (
    METRICS,
    ROWS,
    T0,
    fault_window,
    stamp,
    write_device_csv,
    write_labels,
)

APRIL_1 = 1_396_310_400_000  # 2014-04-01 00:00:00 UTC
HEADER = "timestamp,value\n"
LABELS = {
    "catA/first.csv": [["2014-04-01 00:05:00.000000", "2014-04-01 00:10:00.000000"]],
    "catB/second.csv": [],
    "catB/unused.csv": [],
}


def write_csv(path: Path, rows: int, start_minute: int = 0) -> Path:
    """A five-minutely series of the given length."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"2014-04-01 {(start_minute + 5 * i) // 60:02d}:{(start_minute + 5 * i) % 60:02d}:00,{i}.5"
        for i in range(rows)
    ]
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


@pytest.fixture
def corpus_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A data dir with two categories and a windows JSON beside it."""
    data = tmp_path / "data"
    write_csv(data / "catA" / "first.csv", 10)
    write_csv(data / "catB" / "second.csv", 4)
    labels = tmp_path / "combined_windows.json"
    labels.write_text(json.dumps(LABELS))
    return data, labels


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2014-04-01 00:00:00", APRIL_1),
        ("2014-04-01 00:00:00.000000", APRIL_1),
        ("2014-04-01T01:00:00+01:00", APRIL_1),
        ("2014-04-01 00:00:00.250", APRIL_1 + 250),
    ],
)
def test_timestamps_are_epoch_ms_and_naive_means_utc(text: str, expected: int) -> None:
    assert parse_timestamp_ms(text) == expected


def test_load_series_returns_typed_arrays_in_file_order(tmp_path: Path) -> None:
    ts, values = load_series(write_csv(tmp_path / "s.csv", 3))
    assert ts.dtype == np.int64 and values.dtype == np.float64
    assert ts.tolist() == [APRIL_1, APRIL_1 + 300_000, APRIL_1 + 600_000]
    assert values.tolist() == [0.5, 1.5, 2.5]


def test_repeated_timestamps_are_kept_as_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(HEADER + "2014-04-01 00:00:00,1\n2014-04-01 00:00:00,2\n")
    assert load_series(path)[1].tolist() == [1.0, 2.0]


def test_load_windows_converts_both_ends(corpus_dir: tuple[Path, Path]) -> None:
    windows = load_windows(corpus_dir[1])
    assert windows["catA/first.csv"] == [(APRIL_1 + 300_000, APRIL_1 + 600_000)]
    assert windows["catB/second.csv"] == []


def test_load_corpus_from_a_data_directory(corpus_dir: tuple[Path, Path]) -> None:
    series = load_corpus(*corpus_dir)
    assert [s.name for s in series] == ["catA/first.csv", "catB/second.csv"]
    assert [s.category for s in series] == ["catA", "catB"]
    assert series[0].windows_ms == ((APRIL_1 + 300_000, APRIL_1 + 600_000),)
    assert len(series[0].values) == 10 and series[1].windows_ms == ()


def test_load_corpus_from_one_csv(corpus_dir: tuple[Path, Path]) -> None:
    data, labels = corpus_dir
    (series,) = load_corpus(data / "catA" / "first.csv", labels)
    assert series.name == "catA/first.csv" and series.category == "catA"


def test_missing_files_and_labels_are_named(corpus_dir: tuple[Path, Path], tmp_path: Path) -> None:
    data, labels = corpus_dir
    with pytest.raises(EvaluationError, match="corpus not found"):
        load_corpus(tmp_path / "nowhere", labels)
    with pytest.raises(EvaluationError, match="cannot read windows"):
        load_corpus(data, tmp_path / "missing.json")
    with pytest.raises(EvaluationError, match="series file not found"):
        load_series(tmp_path / "missing.csv")
    write_csv(data / "catC" / "orphan.csv", 3)
    with pytest.raises(EvaluationError, match=r"no anomaly windows for 'catC/orphan.csv'"):
        load_corpus(data, labels)
    with pytest.raises(EvaluationError, match="no anomaly windows"):
        load_corpus(data / "catC" / "orphan.csv", labels)


def test_malformed_inputs_are_refused(tmp_path: Path) -> None:
    bad_row = tmp_path / "bad.csv"
    bad_row.write_text(HEADER + "2014-04-01 00:00:00,1\n2014-04-01 00:05:00,oops\n")
    with pytest.raises(EvaluationError, match=r"bad.csv:3: bad row"):
        load_series(bad_row)
    bad_header = tmp_path / "header.csv"
    bad_header.write_text("time,reading\n")
    with pytest.raises(EvaluationError, match="header"):
        load_series(bad_header)
    bad_json = tmp_path / "labels.json"
    bad_json.write_text('{"a.csv": [["not a time", "2014-04-01"]]}')
    with pytest.raises(EvaluationError, match="malformed windows"):
        load_windows(bad_json)
    empty = tmp_path / "empty"
    empty.mkdir()
    bad_json.write_text("{}")
    with pytest.raises(EvaluationError, match=r"no \*.csv"):
        load_corpus(empty, bad_json)


def test_load_profiles_reads_the_nab_format(tmp_path: Path) -> None:
    table = {
        p.name: {"CostMatrix": {"tpWeight": p.a_tp, "fpWeight": p.a_fp, "fnWeight": p.a_fn}}
        for p in PROFILES
    }
    (tmp_path / "profiles.json").write_text(json.dumps(table))
    assert load_profiles(tmp_path / "profiles.json") == PROFILES
    with pytest.raises(EvaluationError, match="cannot read"):
        load_profiles(tmp_path / "missing.json")


@pytest.fixture
def devices(tmp_path: Path) -> tuple[Path, Path]:
    """Two device files below data/rig/ and labels keyed by rig/<file>."""
    data = tmp_path / "data"
    write_device_csv(data / "rig" / "a.csv", 1)
    write_device_csv(data / "rig" / "b.csv", 2, sep=";", ts_name="datetime")
    labels = {"rig/a.csv": [fault_window()], "rig/b.csv": []}
    return data, write_labels(tmp_path / "windows.json", labels)


def test_device_files_are_series_of_their_metrics(devices: tuple[Path, Path]) -> None:
    a, b = load_corpus(*devices)
    assert (a.name, a.category, a.metrics) == ("rig/a.csv", "rig", METRICS)
    assert a.values.shape == (ROWS, 3) and len(a.windows_ms) == 1 and b.windows_ms == ()
    assert not a.nab_scorable and a.train_rows is None


def test_a_directory_below_the_labels_root_matches_by_path_suffix(
    devices: tuple[Path, Path],
) -> None:
    data, labels = devices
    assert [s.name for s in load_corpus(data / "rig", labels)] == ["rig/a.csv", "rig/b.csv"]


def test_training_by_rows_or_until_a_time(devices: tuple[Path, Path]) -> None:
    corpus = load_corpus(*devices)
    assert [s.probation for s in with_training(corpus, train_rows=200)] == [200, 200]
    until = with_training(corpus, train_until_ms=parse_timestamp_ms(stamp(T0 + 299_000)))
    assert [s.train_rows for s in until] == [300, 300]  # rows at or before TS are training
    assert with_training(corpus) == corpus  # NAB's probationary period
    assert corpus[0].probation == 90


@pytest.mark.parametrize(
    ("kwargs", "loc", "message"),
    [
        ({"train_rows": 5}, "train_rows", f"rig/a.csv: 5 training rows; at least {MIN_TRAIN_ROWS}"),
        ({"train_rows": ROWS}, "train_rows", "rig/a.csv: 600 rows, all of them training"),
        ({"train_until_ms": T0}, "train_until", "rig/a.csv: 1 training rows"),
        ({"train_rows": 10, "train_until_ms": T0}, "train_rows", "not both"),
    ],
)
def test_too_little_training_or_nothing_to_score_is_refused(
    devices: tuple[Path, Path], kwargs: dict[str, int], loc: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message) as refused:
        with_training(load_corpus(*devices), **kwargs)
    assert refused.value.loc == (loc,)
