"""Schemas of the backtest API: labelled series in, every NAB and event-level figure out."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from forewarn.detection.registry import DEFAULT_ALGORITHM, algorithm
from forewarn.errors import InvalidInputError
from forewarn.schemas.common import FiniteFloat, MetricName, TimestampMs

MIN_SERIES_ROWS = 50
MAX_EVALUATE_ROWS = 500_000
_DEVICE = "3f2b8c1e-8a4d-4e0b-9f6a-2c5d7e9a1b3c"
_T0 = 1_730_000_000_000
_STEP = 300_000


def _ordered(window: tuple[int, int]) -> tuple[int, int]:
    """A window whose start is not after its end."""
    if window[0] > window[1]:
        raise ValueError("a window's start must not be after its end")
    return window


Window = Annotated[
    tuple[TimestampMs, TimestampMs],
    AfterValidator(_ordered),
    Field(description="An anomaly window [start, end], both inclusive."),
]


class LabelledSeriesIn(BaseModel):
    """One series with its anomaly windows, replayed in the order given."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200, examples=["pump-07/bearing.csv"])]
    timestamps: Annotated[list[TimestampMs], Field(min_length=MIN_SERIES_ROWS)]
    values: Annotated[list[FiniteFloat], Field(min_length=MIN_SERIES_ROWS)]
    windows: list[Window] = Field(default_factory=list)

    @model_validator(mode="after")
    def _same_length(self) -> LabelledSeriesIn:
        if len(self.timestamps) != len(self.values):
            raise ValueError("timestamps and values must have the same length")
        return self


def _example_series() -> dict[str, Any]:
    """A 60-row inline series for the OpenAPI example: a spike inside its window."""
    stamps = [_T0 + i * _STEP for i in range(60)]
    values = [35.0 if i == 50 else 20.0 + (i % 5) / 10 for i in range(60)]
    window = [stamps[48], stamps[53]]
    return {"name": "bearing.csv", "timestamps": stamps, "values": values, "windows": [window]}


class EvaluateRequest(BaseModel):
    """Labelled series inline (`series`), or one stored series with its windows."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"algorithm": DEFAULT_ALGORITHM, "series": [_example_series()]},
                {
                    "device_id": _DEVICE,
                    "metric_name": "temperature",
                    "start": "2024-10-01T00:00:00Z",
                    "end": "2024-10-27T00:00:00Z",
                    "windows": [["2024-10-20T06:00:00Z", "2024-10-20T18:00:00Z"]],
                },
            ]
        },
    )

    algorithm: str = Field(default=DEFAULT_ALGORITHM, description="A registered algorithm.")
    params: dict[str, Any] = Field(default_factory=dict, description="The algorithm's parameters.")
    series: list[LabelledSeriesIn] | None = Field(
        default=None,
        min_length=1,
        description=f"Inline series, at most {MAX_EVALUATE_ROWS:,} rows in all.",
    )
    device_id: uuid.UUID | None = None
    metric_name: MetricName | None = None
    start: TimestampMs | None = None
    end: TimestampMs | None = None
    windows: list[Window] | None = None

    @field_validator("algorithm")
    @classmethod
    def _registered(cls, name: str) -> str:
        try:
            algorithm(name)
        except InvalidInputError as err:
            raise ValueError(err.message) from err
        return name

    @field_validator("series", mode="before")
    @classmethod
    def _within_limit(cls, series: Any) -> Any:
        """Refuse an oversized request before validating any of its rows."""
        if isinstance(series, list):
            values = [s.get("values") for s in series if isinstance(s, dict)]
            total = sum(len(v) for v in values if isinstance(v, list))
            if total > MAX_EVALUATE_ROWS:
                raise ValueError(f"{total:,} rows in all; the limit is {MAX_EVALUATE_ROWS:,}")
        return series

    @field_validator("series")
    @classmethod
    def _unique(cls, series: list[LabelledSeriesIn] | None) -> list[LabelledSeriesIn] | None:
        if series is not None and len({s.name for s in series}) != len(series):
            raise ValueError("series names must be unique")
        return series

    @model_validator(mode="after")
    def _one_form(self) -> EvaluateRequest:
        stored = (self.device_id, self.metric_name, self.start, self.end, self.windows)
        if self.series is not None:
            if any(field is not None for field in stored):
                raise ValueError("send either `series` or a stored series, not both")
        elif any(field is None for field in stored):
            raise ValueError("send `series`, or device_id, metric_name, start, end and windows")
        elif self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError("`start` must not be after `end`")
        return self


def _example_events(false_events: int, delay: int) -> dict[str, Any]:
    """Event figures of the response example: one window, detected after `delay` rows."""
    return {
        "windows": 1,
        "detected": 1,
        "false_events": false_events,
        "precision": round(1 / (1 + false_events), 3),
        "recall": 1.0,
        "f1": round(2 / (2 + false_events), 3),
        "median_delay_rows": float(delay),
        "median_delay_ms": float(delay * _STEP),
    }


def _example_profile(a_fp: float, a_fn: float, shipped: float) -> dict[str, Any]:
    """One profile of the response example (perfect raw score 1, optimal raw 0.95)."""
    null = -a_fn
    return {
        "weights": {"tp": 1.0, "fp": a_fp, "fn": a_fn},
        "null": null,
        "perfect": 1.0,
        "optimal": {"score": round(100 * (0.95 - null) / (1 - null), 1), "raw": 0.95},
        "shipped": {"score": round(100 * (shipped - null) / (1 - null), 1), "raw": shipped},
    }


def _example_response() -> dict[str, Any]:
    """A backtest of one 1000-row series with one labelled window."""
    nab = {
        "standard": _example_profile(0.11, 1.0, 0.56),
        "reward_low_FP_rate": _example_profile(0.22, 1.0, 0.12),
        "reward_low_FN_rate": _example_profile(0.11, 2.0, 0.56),
    }
    for profile in nab.values():
        profile["optimal"]["threshold"] = 0.804
    start, shipped = _T0 + 395 * _STEP, _example_events(4, 5)
    window = {"start": start, "end": start + 10 * _STEP, "start_row": 395, "end_row": 405}
    window |= {"first_detection_row": 400, "delay_rows": 5, "delay_ms": 5 * _STEP}
    figures = {"name": "pump-07/bearing.csv", "category": "pump-07", "rows": 1000}
    figures |= {"probation": 150, "fits": 1, "rows_per_second": 790.0, "detections": 9}
    return {
        "algorithm": DEFAULT_ALGORITHM,
        "params": {},
        "retraining": {"every_rows": 2016, "window_rows": 2016},
        "probation": {"share": 0.15, "cap_rows": 750},
        "nab": nab,
        "events": {"shipped": shipped, "optimal": {**_example_events(0, 5), "threshold": 0.804}},
        "rows": 1000,
        "scored_rows": 850,
        "wall_seconds": 1.08,
        "rows_per_second": 790.0,
        "series": [
            {
                **figures,
                "nab_shipped": {name: p["shipped"]["score"] for name, p in nab.items()},
                "events": shipped,
                "windows": [window],
            }
        ],
    }


class NabScore(BaseModel):
    """A normalised NAB score (0 = never fires, 100 = perfect) and the raw sum behind it."""

    score: float
    raw: float


class ThresholdScore(NabScore):
    """A NAB score at a corpus-wide threshold."""

    threshold: float | None = Field(description="null: nothing beats never firing.")


class ProfileResult(BaseModel):
    """One NAB profile: its weights, the null and perfect raw scores, and the two results."""

    weights: dict[str, float]
    null: float
    perfect: float
    optimal: ThresholdScore
    shipped: NabScore


class EventFigures(BaseModel):
    """Event-level figures; null where undefined (e.g. precision with no detection)."""

    windows: int
    detected: int
    false_events: int
    precision: float | None
    recall: float | None
    f1: float | None
    median_delay_rows: float | None
    median_delay_ms: float | None


class OptimalEventFigures(EventFigures):
    """Event-level figures at the standard profile's optimal threshold."""

    threshold: float | None


class EventsResult(BaseModel):
    """Event-level figures at the shipped decisions and at the optimal threshold."""

    shipped: EventFigures
    optimal: OptimalEventFigures


class WindowResult(BaseModel):
    """One scorable window and its first shipped detection (rows are 0-based)."""

    start: int
    end: int
    start_row: int
    end_row: int
    first_detection_row: int | None
    delay_rows: int | None
    delay_ms: int | None


class SeriesResult(BaseModel):
    """Per-series figures at the shipped decisions."""

    name: str
    category: str
    rows: int
    probation: int
    fits: int
    rows_per_second: float | None
    detections: int
    nab_shipped: dict[str, float] | None = Field(description="null: no scorable window.")
    events: EventFigures
    windows: list[WindowResult]


class RetrainingResult(BaseModel):
    """The refit schedule of the replay."""

    every_rows: int | None
    window_rows: int | None


class ProbationResult(BaseModel):
    """NAB's probationary period: min(floor(share * rows), cap_rows) rows, never scored."""

    share: float
    cap_rows: int


class EvaluateResponse(BaseModel):
    """Every figure of a backtest, as in the CLI's summary.json."""

    model_config = ConfigDict(json_schema_extra={"examples": [_example_response()]})

    algorithm: str
    params: dict[str, Any]
    retraining: RetrainingResult
    probation: ProbationResult
    nab: dict[str, ProfileResult]
    events: EventsResult
    rows: int
    scored_rows: int
    wall_seconds: float
    rows_per_second: float | None
    series: list[SeriesResult]
