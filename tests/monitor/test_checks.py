"""Each health check, on a chosen `now`, with thresholds taken from the settings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forewarn.monitor.checks import CHECKS, fingerprint
from forewarn.runtime import Runtime
from forewarn.settings import Settings
from tests.factories import NOW, make_device, model_row
from tests.monitor.fakes import FakeClock
from tests.monitor.helpers import findings, make_monitor


def open_subjects(runtime: Runtime, check: str) -> set[str]:
    """Subjects of the open findings of one check."""
    return {s for s, f in findings(runtime, "open").items() if f.check_name == check}


def test_the_table_has_the_four_checks_with_their_labels() -> None:
    labels = {check.name: check.labels for check in CHECKS}
    assert labels == {
        "stale": ("ml", "ml-retraining", "predictive-maintenance"),
        "inactive": ("ml", "ml-monitoring"),
        "cleanup": ("ml", "ml-cleanup", "storage"),
        "storage": ("ml", "storage"),
    }


def test_stale_means_an_active_model_trained_longer_ago_than_the_setting(
    runtime: Runtime, clock: FakeClock
) -> None:
    device = make_device(runtime)
    day = timedelta(days=1)
    old = model_row(runtime, device, "vibration", trained=NOW - 8 * day, used=NOW)
    fresh = model_row(runtime, device, "temperature", trained=NOW - 6 * day, used=NOW)
    model_row(runtime, device, "vibration", version=0, active=False, trained=NOW - 30 * day)

    make_monitor(runtime, clock).scan(NOW)
    assert open_subjects(runtime, "stale") == {str(old)}
    stale = findings(runtime)[str(old)]
    assert stale.title == "Model vibration v1 of Pump 7 needs retraining"
    assert stale.labels == ["ml", "ml-retraining", "predictive-maintenance"]
    assert stale.details["age_days"] == 8.0
    assert stale.fingerprint == fingerprint("stale", str(old))

    make_monitor(runtime, clock, monitor_stale_days=5).scan(NOW)
    assert open_subjects(runtime, "stale") == {str(old), str(fresh)}


def test_inactive_counts_from_last_use_or_from_training_when_never_used(
    runtime: Runtime, clock: FakeClock
) -> None:
    device = make_device(runtime)
    hour = timedelta(hours=1)
    quiet = model_row(runtime, device, "a", trained=NOW - 100 * hour, used=NOW - 25 * hour)
    busy = model_row(runtime, device, "b", trained=NOW - 100 * hour, used=NOW - 23 * hour)
    never = model_row(runtime, device, "c", trained=NOW - 25 * hour)
    model_row(runtime, device, "d", trained=NOW - 2 * hour)  # new, never used: not yet
    model_row(runtime, device, "a", version=0, active=False, trained=NOW - 300 * hour)

    make_monitor(runtime, clock).scan(NOW)
    assert open_subjects(runtime, "inactive") == {str(quiet), str(never)}
    assert findings(runtime)[str(quiet)].title == "Model a v1 of Pump 7 is inactive, may be dead"

    make_monitor(runtime, clock, monitor_inactive_hours=20).scan(NOW)
    assert open_subjects(runtime, "inactive") == {str(quiet), str(never), str(busy)}


def test_cleanup_flags_series_with_more_inactive_versions_than_allowed(
    runtime: Runtime, clock: FakeClock
) -> None:
    device = make_device(runtime, "Chiller 2")
    for version in range(1, 7):  # six inactive versions
        model_row(runtime, device, "flow", version=version, active=False, size=2 * 1024 * 1024)
    model_row(runtime, device, "flow", version=7, used=NOW)
    for version in range(1, 6):  # five: at the limit, not over it
        model_row(runtime, device, "pressure", version=version, active=False)
    model_row(runtime, device, "pressure", version=6, used=NOW)

    make_monitor(runtime, clock).scan(NOW)
    assert open_subjects(runtime, "cleanup") == {f"{device}/flow"}
    found = findings(runtime)[f"{device}/flow"]
    assert found.title == "Too many inactive models for flow of Chiller 2"
    assert found.labels == ["ml", "ml-cleanup", "storage"]
    assert (found.details["inactive_versions"], found.details["inactive_mb"]) == (6, 12.0)

    make_monitor(runtime, clock, monitor_max_inactive_versions=4).scan(NOW)
    assert open_subjects(runtime, "cleanup") == {f"{device}/flow", f"{device}/pressure"}


def test_storage_measures_the_model_directory_on_disk(runtime: Runtime, clock: FakeClock) -> None:
    device = make_device(runtime)
    model_row(runtime, device, used=NOW, size=300_000, write_artifact=True)
    (runtime.settings.resolved_model_dir / "stray.bin").write_bytes(b"\0" * 300_000)

    make_monitor(runtime, clock, monitor_storage_mb=1).scan(NOW)
    assert open_subjects(runtime, "storage") == set()

    make_monitor(runtime, clock, monitor_storage_mb=0.5).scan(NOW)
    (found,) = [f for f in findings(runtime, "open").values() if f.check_name == "storage"]
    assert found.subject == str(runtime.settings.resolved_model_dir.resolve())
    assert found.title == "Model storage high: over 0.5 MB"
    assert found.labels == ["ml", "storage"]
    assert (found.details["used_mb"], found.details["files"]) == (0.6, 2)


def test_thresholds_are_read_from_their_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    variables = {
        "FOREWARN_MONITOR_STALE_DAYS": ("monitor_stale_days", "3", 3.0),
        "FOREWARN_MONITOR_INACTIVE_HOURS": ("monitor_inactive_hours", "12", 12.0),
        "FOREWARN_MONITOR_MAX_INACTIVE_VERSIONS": ("monitor_max_inactive_versions", "2", 2),
        "FOREWARN_MONITOR_STORAGE_MB": ("monitor_storage_mb", "100", 100.0),
        "FOREWARN_MONITOR_INTERVAL_S": ("monitor_interval_s", "60", 60.0),
    }
    defaults = Settings(_env_file=None)
    assert [getattr(defaults, name) for name, _, _ in variables.values()] == [7, 24, 5, 500, 300]
    for env, (_, raw, _) in variables.items():
        monkeypatch.setenv(env, raw)
    configured = Settings(_env_file=None)
    assert {name: getattr(configured, name) for name, _, _ in variables.values()} == {
        name: value for name, _, value in variables.values()
    }
