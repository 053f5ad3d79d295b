"""Which channels the settings switch on, and settings refused with the field named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from forewarn.escalation.channels import build_channels
from forewarn.runtime.container import channel_config
from forewarn.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No FOREWARN_* setting from the caller's shell or a stray .env leaks into a test."""
    for name in list(os.environ):
        if name.startswith("FOREWARN_") and not name.startswith("FOREWARN_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def names(settings: Settings) -> list[str]:
    """The enabled channels' names."""
    return [channel.name for channel in build_channels(channel_config(settings))]


def test_only_the_log_is_on_by_default() -> None:
    settings = Settings(_env_file=None)
    assert settings.github_api_url == "https://api.github.com"
    assert names(settings) == ["log"]


def test_channels_are_switched_on_by_their_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FOREWARN_GITHUB_TOKEN", "ghp_example")
    monkeypatch.setenv("FOREWARN_GITHUB_REPO", "acme/plant-7")
    monkeypatch.setenv("FOREWARN_GITHUB_API_URL", "https://github.example.com/api/v3")
    monkeypatch.setenv("FOREWARN_ESCALATION_WEBHOOK_URL", "https://hooks.example.com/x")
    monkeypatch.setenv("FOREWARN_ESCALATION_LOG", "false")
    settings = Settings(_env_file=None)
    assert names(settings) == ["github", "webhook"]
    assert "ghp_example" not in repr(settings)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"github_token": "ghp_example"}, "github_token"),
        ({"github_repo": "acme/plant-7"}, "github_token"),
        ({"github_repo": "acme", "github_token": "t"}, "github_repo"),
        ({"github_api_url": "api.github.com"}, "github_api_url"),
        ({"escalation_webhook_url": "ftp://hooks.example.com"}, "escalation_webhook_url"),
        ({"monitor_stale_days": 0}, "monitor_stale_days"),
        ({"monitor_max_inactive_versions": -1}, "monitor_max_inactive_versions"),
        ({"escalation_retries": 11}, "escalation_retries"),
    ],
)
def test_bad_settings_name_their_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **values)  # type: ignore[arg-type]
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]
