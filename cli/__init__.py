"""`gridgov`: the command line of GridGov (a front door: no SQL, no geometry maths here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.analyse import analyse_app
from cli.api import api_cmd
from cli.cases import case_app
from cli.city import city_app
from cli.errors import fail
from cli.field import field_app
from cli.grids import grids_app
from cli.ingest import export_app, load_app
from cli.notify import notify_app
from cli.partitions import partitions_app
from cli.patrol import patrol_app
from cli.users import users_app
from layers import cluster
from layers.db import (
    database_url,
    get_app_engine,
    get_engine,
    libpq_url,
    login_is_superuser,
    uses_managed_cluster,
)
from services.errors import GridGovError

console = Console()
err = Console(stderr=True)

app = typer.Typer(
    help="GridGov: PostGIS layers, spatial computation and a command-centre dashboard for "
    "urban grid management. With DATABASE_URL unset, GridGov runs its own local PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(
    help="GridGov's own database: start, stop, inspect, migrate, monthly partitions.",
    no_args_is_help=True,
)
catalogue_app = typer.Typer(help="The category catalogue (data/catalogue).", no_args_is_help=True)
app.add_typer(db_app, name="db")
db_app.add_typer(partitions_app, name="partitions")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(analyse_app, name="analyse")
app.add_typer(patrol_app, name="patrol")
app.add_typer(load_app, name="load")
app.add_typer(case_app, name="case")
app.add_typer(export_app, name="export")
app.add_typer(grids_app, name="grids")
app.add_typer(users_app, name="users")
app.add_typer(city_app, name="city")
app.add_typer(field_app, name="field")
app.add_typer(notify_app, name="notify")
app.command("api")(api_cmd)

KNOWN_ERRORS = (GridGovError,)
"""Every GridGov error (one root): printed as one line by :func:`cli.errors.fail`."""


_fail = fail


@db_app.command("up")
def db_up() -> None:
    """Start the local database (creating it on first use); safe to run twice."""
    if not uses_managed_cluster():
        console.print("DATABASE_URL is set: GridGov uses that server and starts none of its own.")
        return
    try:
        state = cluster.up()
    except KNOWN_ERRORS as exc:
        _fail(exc)
    console.print(f"Local database {state}: {cluster.ClusterPaths(cluster.default_home()).data}")


@db_app.command("down")
def db_down() -> None:
    """Stop the local database; safe to run when it is not running."""
    if not uses_managed_cluster():
        console.print("DATABASE_URL is set: there is no local database to stop.")
        return
    try:
        console.print(f"Local database {cluster.down()}.")
    except KNOWN_ERRORS as exc:
        _fail(exc)


@db_app.command("status")
def db_status() -> None:
    """Say which database GridGov uses and whether it is running and migrated."""
    from layers import migrate

    try:
        if uses_managed_cluster():
            paths = cluster.ClusterPaths(cluster.default_home())
            state = cluster.status(paths)
            console.print(f"local database: {state} ({paths.data}, port {cluster.port()})")
            if state != "running":
                return
        engine = get_engine()
        console.print(f"url: {engine.url.render_as_string(hide_password=True)}")
        current = migrate.current_revision(engine)
        head = migrate.head_revision()
        console.print(f"schema: {current or 'empty'} (newest: {head})")
        app_engine = get_app_engine()
        console.print(f"app login: {app_engine.url.username}")
        if login_is_superuser(app_engine):
            err.print(
                "[bold yellow]warning:[/] the dashboard and the API log in as a superuser "
                "(row-level security does not apply to it): point DATABASE_URL at a "
                "non-superuser member of gridgov_app, see README (The database)."
            )
    except KNOWN_ERRORS as exc:
        _fail(exc)


@db_app.command("url")
def db_url(
    sqlalchemy: bool = typer.Option(
        False, "--sqlalchemy", help="The postgresql+psycopg:// form SQLAlchemy wants."
    ),
    app_login: bool = typer.Option(
        False, "--app", help="The app's non-superuser login (gridgov_app) instead of the admin."
    ),
) -> None:
    """Print the database URL with its password: `psql "$(gridgov db url)"`, QGIS, DATABASE_URL."""
    try:
        raw = database_url(start=False, login="app" if app_login else "admin")
        if not sqlalchemy:
            raw = libpq_url(raw)
        console.print(raw, soft_wrap=True, highlight=False)
    except KNOWN_ERRORS as exc:
        _fail(exc)


@db_app.command("migrate")
def db_migrate(revision: str = typer.Argument("heads", help="Target revision.")) -> None:
    """Upgrade the schema (Alembic) to REVISION."""
    from layers import migrate

    try:
        migrate.upgrade(get_engine(), revision)
    except KNOWN_ERRORS as exc:
        _fail(exc)
    console.print(f"schema at {revision}.")


@catalogue_app.command("load")
def catalogue_load(
    directory: Path | None = typer.Option(  # noqa: B008 - typer's documented idiom
        None, help="Folder with categories.csv and departments.csv (default: data/catalogue)."
    ),
) -> None:
    """Load (upsert) departments and categories; re-running changes nothing."""
    from layers import migrate
    from layers.catalogue import CATALOGUE_DIR, load_catalogue

    try:
        engine = get_engine()
        migrate.upgrade(engine)
        with engine.begin() as conn:
            counts = load_catalogue(conn, directory or CATALOGUE_DIR)
    except KNOWN_ERRORS as exc:
        _fail(exc)
    console.print(
        f"catalogue loaded: {counts['categories']} categories, {counts['departments']} departments."
    )


@app.command("demo")
def demo(
    *,
    seed: int = typer.Option(42, help="Seed of the generator: same seed, same district."),
    households: int = typer.Option(50_000, min=1_000, help="Households in the street."),
    communities: int = typer.Option(10, min=1, max=12, help="Communities in the street."),
    cases: int = typer.Option(110_000, min=100, help="Cases over the last 12 months."),
    parts: int = typer.Option(5_000, min=10, help="Parts (public facilities)."),
    as_of: str = typer.Option(
        None,
        help="Moment the district is seen at, e.g. "
        "'2026-11-20 18:00' (local time of the city profile). Default: today 18:00.",
    ),
    replace: bool = typer.Option(False, "--replace", help="Load again over a loaded demo."),
) -> None:
    """Create the database, migrate, generate the demo district and load it (COPY)."""
    import pandas as pd

    from city import time_zone
    from gis.demo import generate_district
    from layers import migrate
    from layers.catalogue import read_categories
    from layers.demo import load_demo, loaded_demo

    started = time.perf_counter()
    stamp = pd.Timestamp(as_of, tz=time_zone().key) if as_of else None
    try:
        with _progress() as progress:
            task = progress.add_task("database", total=None)
            engine = get_engine()
            progress.update(task, description="migrating")
            migrate.upgrade(engine)
            with engine.connect() as conn:
                current = loaded_demo(conn)
            if current and not replace:
                console.print(
                    f"演示街道（种子 {current['seed']}）已载入，无需再做"
                    "（重新载入请加 --replace）\n"
                    f"The demo district (seed {current['seed']}) is already loaded; "
                    "nothing to do (use --replace to load it again)."
                )
                return
            progress.update(task, description="generating the district")
            district = generate_district(
                read_categories(),
                seed=seed,
                households=households,
                n_communities=communities,
                n_cases=cases,
                n_parts=parts,
                as_of=stamp,
            )
            with engine.begin() as conn:
                report = load_demo(
                    conn,
                    district,
                    replace=replace,
                    progress=lambda m: progress.update(task, description=f"loading {m}"),
                )
            with engine.begin() as conn:  # committed: statistics of a rolled-back ANALYZE are lost
                conn.exec_driver_sql("ANALYZE")
    except KNOWN_ERRORS as exc:
        _fail(exc)
    table = Table(
        "layer",
        "rows",
        title=f"demo district loaded in {time.perf_counter() - started:.1f} s (seed {seed})",
    )
    for name, count in report.counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)


@app.command("serve")
def serve(
    port: int = typer.Option(8501, help="Port of the dashboard."),
    address: str = typer.Option("127.0.0.1", help="Address to listen on."),
) -> None:
    """Serve the dashboard (Streamlit) on ADDRESS:PORT."""
    # app.py behind GridGov's HTTP guard (security headers, no open metrics endpoint)
    app_py = Path(__file__).resolve().parent.parent / "dashboard_server.py"
    env = os.environ.copy()
    try:
        # resolve (and start) the database once, so the app does not have to
        # the app's own non-superuser login, not the administrator's
        env["DATABASE_URL"] = database_url(login="app")
    except KNOWN_ERRORS as exc:
        _fail(exc)
    console.print(f"GridGov dashboard: http://{address}:{port}")
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_py),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    raise typer.Exit(subprocess.call(cmd, env=env))


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def main() -> None:
    """Entry point of the `gridgov` command."""
    app()
