"""`gridgov field …`: the field app's devices and the worker a login walks as (no SQL here)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.errors import fail
from layers.db import get_engine
from services import field
from services.errors import GridGovError

console = Console()
field_app = typer.Typer(
    help="The field app (/field/): its signed-in phones, and the grid worker each login is.",
    no_args_is_help=True,
)


@field_app.command("devices")
def devices(
    username: str = typer.Option(None, help="Only this user's devices."),
) -> None:
    """List signed-in devices (never their tokens)."""
    engine = get_engine()
    try:
        rows = field.list_devices(engine, username=username)
    finally:
        engine.dispose()
    table = Table("device_id", "username", "label", "created", "last seen", "revoked")
    for r in rows:
        table.add_row(
            r.device_id,
            escape(r.username),
            escape(r.label),
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.last_seen_at:%Y-%m-%d %H:%M}" if r.last_seen_at else "",
            f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "",
        )
    console.print(table)


@field_app.command("revoke-device")
def revoke(
    device_id: str = typer.Argument(..., help="The device id (see `gridgov field devices`)."),
) -> None:
    """Revoke a device: its next request is refused (the phone keeps its outbox)."""
    engine = get_engine()
    try:
        done = field.revoke_device(engine, device_id=device_id)
    except GridGovError as exc:
        fail(exc)
    finally:
        engine.dispose()
    if not done:
        console.print(f"no live device {escape(device_id)}")
        raise typer.Exit(1)
    console.print(f"device {escape(device_id)} revoked")


@field_app.command("link-worker")
def link(
    username: str = typer.Argument(..., help="A grid-worker login."),
    worker_code: str = typer.Argument(..., help="The worker's code (workers.code)."),
) -> None:
    """Make a grid-worker login walk as a worker: tracks, plan, grids, /osmand?id=code."""
    engine = get_engine()
    try:
        field.link_worker(engine, username=username, worker_code=worker_code)
    except GridGovError as exc:
        fail(exc)
    finally:
        engine.dispose()
    console.print(f"{escape(username)} walks as worker {escape(worker_code)}")
