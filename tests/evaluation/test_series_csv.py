"""Reading a series file: NAB's two columns or a device's many, and one clear line per fault."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forewarn.evaluation.nab import EvaluationError
from forewarn.evaluation.series_csv import read_series_csv
from tests.evaluation.helpers import METRICS, ROWS, T0, write_device_csv

HEADER = "timestamp,flow,pressure\n"


def write(tmp_path: Path, text: str, name: str = "dev.csv") -> Path:
    """A CSV file holding `text`."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_device_file_is_one_series_of_k_metrics(tmp_path: Path) -> None:
    table = read_series_csv(write_device_csv(tmp_path / "d.csv", 1))
    assert table.metrics == METRICS
    assert table.values.shape == (ROWS, 3) and table.values.dtype == np.float64
    assert table.ts_ms[:2].tolist() == [T0, T0 + 1000]


def test_skab_layout_semicolons_datetime_and_label_columns(tmp_path: Path) -> None:
    text = (
        "datetime;Current;Pressure;anomaly;changepoint\n"
        "2020-03-09 10:34:33;0.87;0.05;0.0;0.0\n"
        "2020-03-09 10:34:34;1.30;0.06;1.0;1.0\n"
    )
    table = read_series_csv(write(tmp_path, text))
    assert table.metrics == ("Current", "Pressure")  # labels come from the windows JSON
    assert table.values.tolist() == [[0.87, 0.05], [1.30, 0.06]]
    assert table.ts_ms[0] == 1_583_750_073_000  # naive means UTC


def test_iso_timestamps_with_offsets_and_one_metric(tmp_path: Path) -> None:
    text = "timestamp,temp\n2020-03-09T11:34:33+01:00,1\n2020-03-09T10:34:34Z,2\n"
    table = read_series_csv(write(tmp_path, text))
    assert table.metrics == ("temp",) and table.values.shape == (2,)
    assert np.diff(table.ts_ms).tolist() == [1000]


def test_nab_files_keep_repeated_timestamps(tmp_path: Path) -> None:
    text = "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:00:00,2\n"
    table = read_series_csv(write(tmp_path, text))
    assert table.metrics == ("value",) and table.values.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            HEADER + "2020-03-09 10:00:00,1,x\n",
            r"dev.csv:2: bad row, column 'pressure': 'x' is not",
        ),
        (
            HEADER + "2020-03-09 10:00:00,1,2\n2020-03-09 10:00:01,1,nan\n",
            r"dev.csv:3: .*'pressure'",
        ),
        (HEADER + "2020-03-09 10:00:00,1\x00,2\n", r"dev.csv:2: .*'flow': contains a NUL byte"),
        (HEADER + "2020-03-09 10:00:00,1\n", r"dev.csv:2: .*'pressure' is missing"),
        (HEADER + "2020-03-09 10:00:00,1,2,3\n", r"dev.csv:2: bad row: 4 fields"),
        (
            "timestamp,flow,flow\n2020-03-09 10:00:00,1,2\n",
            r"dev.csv:1: column 'flow' appears twice",
        ),
        ("time,flow\n2020-03-09 10:00:00,1\n", r"dev.csv:1: header has no 'timestamp'"),
        ("timestamp,anomaly\n2020-03-09 10:00:00,1\n", r"dev.csv:1: header has no value column"),
        ("timestamp,,flow\n", r"dev.csv:1: column 2 of the header has no name"),
        (HEADER + "yesterday,1,2\n", r"dev.csv:2: .*'timestamp': 'yesterday' is not a timestamp"),
        (HEADER, r"dev.csv: no rows after the header"),
        ("", r"dev.csv: empty file"),
        (
            HEADER + "2020-03-09 10:00:01,1,2\n2020-03-09 10:00:01,1,2\n",
            r"dev.csv:3: .*'timestamp': '2020-03-09 10:00:01' is not after the previous",
        ),
    ],
)
def test_every_bad_input_is_one_line_naming_file_line_and_column(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(EvaluationError, match=message) as refused:
        read_series_csv(write(tmp_path, text))
    assert "\n" not in str(refused.value)


def test_text_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dev.csv"
    path.write_bytes(b"timestamp,flow\n2020-03-09 10:00:00,\xff\n")
    with pytest.raises(EvaluationError, match=r"dev\.csv: not UTF-8"):
        read_series_csv(path)


def test_blank_lines_are_skipped_and_a_bom_is_ignored(tmp_path: Path) -> None:
    text = "\ufefftimestamp,flow\n2020-03-09 10:00:00,1\n\n2020-03-09 10:00:01,2\n"
    assert read_series_csv(write(tmp_path, text)).values.tolist() == [1.0, 2.0]
