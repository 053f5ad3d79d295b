"""Helpers shared by CLI commands: settings, runtime, console."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from pydantic import ValidationError
from rich.console import Console

from forewarn.runtime import Runtime, build_runtime
from forewarn.settings import Settings, SettingsError

console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    """Settings from the environment, or a readable exit."""
    try:
        return Settings()
    except ValidationError as err:
        for problem in err.errors():
            field = ".".join(str(p) for p in problem["loc"])
            err_console.print(f"[red]setting FOREWARN_{field.upper()}: {problem['msg']}[/red]")
        raise typer.Exit(2) from err


@contextmanager
def open_runtime(settings: Settings | None = None, *, migrate: bool = True) -> Iterator[Runtime]:
    """A runtime for one command, closed afterwards."""
    try:
        runtime = build_runtime(settings or load_settings(), migrate=migrate)
    except SettingsError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from err
    try:
        yield runtime
    finally:
        runtime.close()


def configure_logging(verbose: bool = False) -> None:
    """Plain, short log lines."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request's full URL at INFO, and an escalation webhook URL may hold a secret.
    logging.getLogger("httpx").setLevel(logging.WARNING)
