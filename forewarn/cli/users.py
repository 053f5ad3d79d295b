"""`forewarn user ...`: manage accounts from the shell."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from forewarn.cli.common import console, err_console, open_runtime
from forewarn.errors import ConflictError, InvalidInputError
from forewarn.schemas.auth import UserCreate
from forewarn.security.roles import Role
from forewarn.services.users import create_user

app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("create")
def create(
    email: Annotated[str, typer.Option(help="Login email")],
    role: Annotated[Role, typer.Option(help="viewer, operator or admin")] = Role.VIEWER,
) -> None:
    """Create a user; the password is prompted for, or read from standard input."""
    password = _read_password()
    try:
        data = UserCreate(email=email, role=role, password=password)
    except ValidationError as err:
        for problem in err.errors():
            err_console.print(f"[red]{problem['loc'][0]}: {problem['msg']}[/red]")
        raise typer.Exit(2) from err
    with open_runtime() as runtime, runtime.sessions() as session:
        try:
            user = create_user(session, data)
        except (ConflictError, InvalidInputError) as err:
            err_console.print(f"[red]{err}[/red]")
            raise typer.Exit(1) from err
        console.print(f"created {user.email} ({user.role}) id={user.id}")
