"""Load the NAB layout: data/<category>/<name>.csv, the windows JSON and the profiles JSON."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

import numpy as np

from forewarn.evaluation.nab import EvaluationError, FloatArray, IntArray, Profile

Window = tuple[int, int]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class LabelledSeries:
    """One univariate series with its anomaly windows, keyed by its path in the corpus."""

    name: str  # e.g. "realKnownCause/machine_temperature_system_failure.csv"
    category: str  # e.g. "realKnownCause"; "" for a file outside any category folder
    ts_ms: IntArray
    values: FloatArray
    windows_ms: tuple[Window, ...]


def parse_timestamp_ms(text: str) -> int:
    """Epoch ms of an ISO timestamp such as "2014-04-01 00:00:00"; naive means UTC."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MS


def _read_rows(csv_path: Path) -> tuple[list[int], list[float]]:
    """Timestamps and values of a ``timestamp,value`` CSV, naming the line of a bad row."""
    stamps: list[int] = []
    values: list[float] = []
    with csv_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise EvaluationError(f"{csv_path}: header must be 'timestamp,value'")
        for line, row in enumerate(reader, start=2):
            try:
                stamps.append(parse_timestamp_ms(row[0]))
                values.append(float(row[1]))
            except (IndexError, ValueError) as err:
                raise EvaluationError(f"{csv_path}:{line}: bad row {row!r}: {err}") from err
    return stamps, values


def load_series(csv_path: Path) -> tuple[IntArray, FloatArray]:
    """(ts_ms int64, values float64) of one NAB CSV, rows in file order.

    Rows are not re-sorted: NAB replays and scores rows in file order, and a few real files
    repeat a timestamp or step back (e.g. ec2_request_latency_system_failure.csv).
    """
    path = Path(csv_path)
    if not path.is_file():
        raise EvaluationError(f"series file not found: {path}")
    stamps, values = _read_rows(path)
    return np.array(stamps, dtype=np.int64), np.array(values, dtype=np.float64)


def load_windows(json_path: Path) -> dict[str, list[Window]]:
    """Anomaly windows per file name (as in the JSON) as (start_ms, end_ms), both inclusive."""
    path = Path(json_path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        return {
            str(name): [(parse_timestamp_ms(a), parse_timestamp_ms(b)) for a, b in windows]
            for name, windows in table.items()
        }
    except OSError as err:
        raise EvaluationError(f"cannot read windows {path}: {err}") from err
    except (ValueError, TypeError, AttributeError) as err:
        raise EvaluationError(f"malformed windows {path}: {err!r}") from err


def load_profiles(path: Path) -> tuple[Profile, ...]:
    """Profiles from a NAB ``profiles.json`` (name -> CostMatrix of weights)."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
        return tuple(
            Profile(name, float(m["tpWeight"]), float(m["fpWeight"]), float(m["fnWeight"]))
            for name, entry in table.items()
            for m in (entry["CostMatrix"],)
        )
    except OSError as err:
        raise EvaluationError(f"cannot read profiles {path}: {err}") from err
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise EvaluationError(f"malformed profiles {path}: {err!r}") from err


def _labelled(name: str, csv_path: Path, windows: dict[str, list[Window]]) -> LabelledSeries:
    """Load one CSV and attach its windows, refusing a file the labels do not mention."""
    if name not in windows:
        raise EvaluationError(f"no anomaly windows for {name!r} in the labels")
    ts_ms, values = load_series(csv_path)
    parts = PurePosixPath(name).parts
    category = parts[-2] if len(parts) > 1 else ""
    return LabelledSeries(name, category, ts_ms, values, tuple(windows[name]))


def _name_of_file(csv_path: Path, windows: dict[str, list[Window]]) -> str:
    """The labels' key for a lone CSV: the longest key its path ends with."""
    parts = csv_path.resolve().parts
    keys = {key: PurePosixPath(key).parts for key in windows}
    matches = [key for key, tail in keys.items() if parts[-len(tail) :] == tail]
    if not matches:
        raise EvaluationError(f"no anomaly windows for {csv_path} in the labels")
    return max(matches, key=len)


def load_corpus(root_or_file: Path, labels_path: Path) -> list[LabelledSeries]:
    """A data directory (every *.csv below it, sorted by name) or one CSV, with its windows."""
    root = Path(root_or_file)
    windows = load_windows(labels_path)
    if root.is_file():
        return [_labelled(_name_of_file(root, windows), root, windows)]
    if not root.is_dir():
        raise EvaluationError(f"corpus not found: {root}")
    paths = sorted(root.rglob("*.csv"))
    if not paths:
        raise EvaluationError(f"no *.csv files below {root}")
    return [_labelled(path.relative_to(root).as_posix(), path, windows) for path in paths]
