"""`gridgov users …`: dashboard logins with a workflow role and its area (no SQL here)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from cli.errors import fail
from layers.auth import DEMO_PASSWORD, LOGIN_ROLES, UserError, add_user, demo_users, list_users
from layers.auth import disable_user as disable
from layers.db import get_engine

console = Console()
err = Console(stderr=True)
users_app = typer.Typer(
    help="Dashboard users: each logs in with one role of the case lifecycle and sees its area.",
    no_args_is_help=True,
)


@users_app.command("add")
def add(
    *,
    username: str = typer.Argument(..., help="Login name (letters, digits, '_', '.', '-')."),
    role: str = typer.Option(..., help=f"One of: {', '.join(LOGIN_ROLES)}."),
    area: str = typer.Option(
        None, help="Street (9) or community (12 digit) code; required for supervisor/grid_worker."
    ),
    department: str = typer.Option(None, help="Department code; required for handler."),
    name: str = typer.Option(None, help="Display name (default: the login name)."),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True, help="At least 8 characters."
    ),
    replace: bool = typer.Option(False, help="Update the user if the name exists."),
) -> None:
    """Add a dashboard user (the password is stored only as a scrypt hash)."""
    try:
        with get_engine().begin() as conn:
            user = add_user(
                conn=conn,
                username=username,
                password=password,
                role=role,
                area=area,
                department_code=department,
                display_name=name,
                replace=replace,
            )
    except UserError as exc:
        fail(exc)
    console.print(f"user {user.username}: {user.role} {user.scope.area or ''}".rstrip())


@users_app.command("list")
def list_() -> None:
    """List dashboard users (no password hashes)."""
    with get_engine().connect() as conn:
        rows = list_users(conn=conn)
    table = Table("username", "name", "role", "area", "department", "disabled")
    for r in rows:
        table.add_row(
            r["username"],
            r["display_name"],
            r["role"],
            r["area"] or "",
            r["department_code"] or "",
            "yes" if r["disabled"] else "",
        )
    console.print(table)


@users_app.command("disable")
def disable_user(username: str = typer.Argument(..., help="Login name.")) -> None:
    """Disable a login (its name stays in the case history)."""
    with get_engine().begin() as conn:
        if not disable(conn=conn, username=username):
            err.print(f"[red]no active user {username!r}[/red]")
            raise typer.Exit(1)
    console.print(f"user {username} disabled")


@users_app.command("demo")
def demo() -> None:
    """(Re)create one demo user per role for the loaded district (password: gridgov-demo)."""
    try:
        with get_engine().begin() as conn:
            made = demo_users(conn=conn)
    except UserError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    for user in made:
        console.print(f"{user.username:18} {user.role:13} {user.scope.area or ''}")
    console.print(f"password: {DEMO_PASSWORD}")
