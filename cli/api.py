"""`gridgov api`: serve the FastAPI application (Open311, later the web apps) with uvicorn."""

from __future__ import annotations

import typer
from rich.console import Console

from layers.db import DatabaseError, database_url

console = Console()
err = Console(stderr=True)

APP_FACTORY = "api.app:create_app"
"""The import path uvicorn builds the app from (a factory: the app is made on start)."""


def api_cmd(
    host: str = typer.Option(
        "127.0.0.1", help="Address to listen on (loopback by default; 0.0.0.0 opens it up)."
    ),
    port: int = typer.Option(8000, min=1, max=65535, help="Port of the API."),
) -> None:
    """Serve the API (Open311 GeoReport v2 under /open311/v2, docs under /docs) on HOST:PORT.

    The database is resolved first (GridGov's own cluster is started when
    DATABASE_URL is unset), so a database that cannot be reached is reported
    before the server starts.
    """
    import uvicorn

    try:
        database_url()
    except DatabaseError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(f"GridGov API 接口: http://{host}:{port}/open311/v2 (docs: /docs)")
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, log_level="info")
