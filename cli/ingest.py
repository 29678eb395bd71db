"""`gridgov load …` and `gridgov export …`: bring city data in, take layers out (no SQL here)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from cli.errors import fail
from gis.dask_parts import SchedulerUnreachableError, parts_mapper
from gis.errors import GridGovError
from layers.db import DatabaseError, get_engine
from layers.ingest import (
    ImportAccount,
    IngestError,
    import_runs,
    load_boundaries,
    load_buildings,
    load_cases,
    load_mapping,
    load_parts,
    quarantined,
)
from layers.ingest.assignment import LocateInParts
from layers.ingest.export import PERSONAL_DATA_ROLES, ExportFilter, export_layer

console = Console()
err = Console(stderr=True)

load_app = typer.Typer(
    help="Import city data (cases, parts, buildings, boundaries, roads, an OpenStreetMap base "
    "map) as a YAML mapping describes: validated, quarantined, idempotent, crash-safe.",
    no_args_is_help=True,
)
export_app = typer.Typer(
    help="Export a layer or a selection to GeoJSON, GeoPackage, CSV or GeoParquet "
    "(reporters' personal data only on request, for allowed roles, audited).",
    no_args_is_help=True,
)

FILE = typer.Argument(..., exists=True, dir_okay=False, help="Source file.")
MAPPING = typer.Option(..., "--mapping", "-m", exists=True, help="YAML mapping file.")
BATCH = typer.Option(100_000, min=1, help="Rows per committed batch.")
LOADERS: dict[str, Callable[..., ImportAccount]] = {
    "cases": load_cases,
    "parts": load_parts,
    "buildings": load_buildings,
    "boundaries": load_boundaries,
}


_fail = fail  # the CLI's one error printer (cli.errors)


def _run(
    layer: str,
    path: Path,
    mapping_path: Path,
    batch_rows: int | None,
    *,
    scheduler: str | None = None,
    chunk_rows: int | None = None,
    **extra: object,
) -> None:
    from layers import migrate

    try:
        mapping = load_mapping(mapping_path)
        if mapping.layer != layer:
            raise IngestError(f"{mapping_path} is a mapping for {mapping.layer}, not {layer}")
        # keyword options of the loader: they differ between layers (see LOADERS)
        options: dict[str, Any] = {} if batch_rows is None else {"batch_rows": batch_rows}
        options |= extra
        with parts_mapper(scheduler) as map_parts:  # connected first: unreachable, nothing done
            engine = get_engine()
            migrate.upgrade(engine)
            if map_parts is not None:
                options["assign"] = LocateInParts(
                    map_parts, chunk_rows=chunk_rows, threads=map_parts.threads
                )
            with (
                tqdm(unit=" rows", unit_scale=True, desc=f"{layer} ← {path.name}") as bar,
                engine.connect() as conn,
            ):
                if layer == "cases":  # a bulk load is one batch: say what it is doing meanwhile
                    options["stage"] = bar.set_postfix_str
                account = LOADERS[layer](path, mapping, conn=conn, progress=bar.update, **options)
    except (IngestError, DatabaseError, SchedulerUnreachableError) as exc:
        _fail(exc)
    if scheduler:
        console.print(f"Dask: points assigned in chunks on {scheduler}.")
    _print_account(account)
    if layer == "boundaries":
        from layers.ingest.boundaries import derived_codes

        with get_engine().connect() as conn:
            for line in derived_codes(conn=conn, run_id=account.run_id):
                console.print(line, highlight=False, soft_wrap=True)


def _print_account(account: ImportAccount) -> None:
    table = Table(title=f"import run {account.run_id}: {account.layer} from {account.source}")
    table.add_column("rows")
    table.add_column("count", justify="right")
    table.add_row("read", f"{account.read:,}")
    table.add_row("loaded", f"{account.loaded:,}")
    table.add_row("quarantined", f"{account.quarantined:,}")
    for reason, n in sorted(account.by_reason.items()):
        table.add_row(f"  {reason}", f"{n:,}")
    table.add_row("already present", f"{account.already_present:,}")
    if account.repaired:
        table.add_row("repaired on entry (noted)", f"{account.repaired:,}")
    for code, n in sorted(account.notes.items()):
        table.add_row(f"noted: {code}", f"{n:,}")
    console.print(table)
    verdict = "adds up" if account.adds_up else "DOES NOT ADD UP"
    console.print(
        f"read {account.read:,} = loaded {account.loaded:,} + quarantined "
        f"{account.quarantined:,} + already present {account.already_present:,}: {verdict}."
    )


BULK = typer.Option(
    None,
    "--bulk/--no-bulk",
    help=(
        "Bulk path: one transaction, COPY straight into cases, indexes and foreign keys "
        "rebuilt (the table is locked meanwhile). Default: automatic for large loads."
    ),
)


SCHEDULER = typer.Option(
    None,
    "--scheduler",
    help="Dask 调度器地址，点位落格（街道/社区/网格）分块在其 worker 上计算 — Dask scheduler "
    "address (tcp://host:port): which street, community and grid each point falls in is "
    "computed in chunks of rows on its workers; checks, quarantine, COPY and routing stay "
    "here, and the rows loaded are the same as in this process (the default).",
)
CHUNK_ROWS = typer.Option(
    None,
    "--chunk-rows",
    min=1,
    help="每块行数 Rows per Dask task with --scheduler (default: about 4 chunks per worker "
    "thread, at least 1,000 rows each).",
)


@load_app.command("cases")
def load_cases_cmd(
    *,
    path: Path = FILE,
    mapping: Path = MAPPING,
    batch_rows: int = BATCH,
    bulk: bool | None = BULK,
    scheduler: str | None = SCHEDULER,
    chunk_rows: int | None = CHUNK_ROWS,
) -> None:
    """Load 311 / Open311-style cases (CSV, GeoJSON, Parquet)."""
    _run("cases", path, mapping, batch_rows, bulk=bulk, scheduler=scheduler, chunk_rows=chunk_rows)


@load_app.command("parts")
def load_parts_cmd(
    path: Path = FILE,
    mapping: Path = MAPPING,
    batch_rows: int = BATCH,
    scheduler: str | None = SCHEDULER,
    chunk_rows: int | None = CHUNK_ROWS,
) -> None:
    """Load a parts inventory (CSV with coordinates, GeoJSON, GeoPackage, OSM layers)."""
    _run("parts", path, mapping, batch_rows, scheduler=scheduler, chunk_rows=chunk_rows)


@load_app.command("buildings")
def load_buildings_cmd(
    path: Path = FILE,
    mapping: Path = MAPPING,
    batch_rows: int = BATCH,
    scheduler: str | None = SCHEDULER,
    chunk_rows: int | None = CHUNK_ROWS,
) -> None:
    """Load buildings or address points with household counts."""
    _run("buildings", path, mapping, batch_rows, scheduler=scheduler, chunk_rows=chunk_rows)


@load_app.command("boundaries")
def load_boundaries_cmd(
    path: Path = FILE,
    mapping: Path = MAPPING,
    parent_column: str = typer.Option(
        None,
        "--parent-column",
        help="Column naming each row's parent (a street for communities, a district for "
        "streets), by code or name; default: the mapping's, else the parent it overlaps most.",
    ),
) -> None:
    """Load districts, streets or communities (the mapping's level) from a polygon file."""
    _run("boundaries", path, mapping, None, parent_column=parent_column)


@load_app.command("roads")
def load_roads_cmd(
    path: Path = FILE,
    source: str = typer.Option(None, help="Source name of the natural key (default: file name)."),
    class_column: str = typer.Option("highway", help="Column with the source's road class."),
) -> None:
    """Load road centre lines (.osm.pbf, GeoPackage, GeoJSON): major roads become grid barriers."""
    from layers import migrate
    from layers.ingest.roads import load_roads

    try:
        engine = get_engine()
        migrate.upgrade(engine)
        with engine.begin() as conn:
            account = load_roads(path, conn=conn, source=source, class_column=class_column)
    except (IngestError, DatabaseError, ValueError) as exc:
        if not isinstance(exc, GridGovError):  # not ours: the traceback is the report
            raise
        _fail(exc)
    console.print(account.summary(), highlight=False, soft_wrap=True)


OSM_FILE = typer.Argument(
    None, exists=True, dir_okay=False, help="An OpenStreetMap extract (.osm.pbf or .osm)."
)


@load_app.command("basemap")
def load_basemap_cmd(
    path: Path = OSM_FILE,
    demo: bool = typer.Option(False, "--demo", help="From the district's own roads and buildings."),
    source: str = typer.Option(None, help="Source name (default: the file name, or demo)."),
) -> None:
    """Load the offline base map (roads, buildings, water): vector tiles under every map."""
    from layers import migrate
    from services.tiles import load_basemap

    if (path is None) == (not demo):
        _fail(GridGovError("give an OSM extract FILE, or --demo (not both)", code="bad_input"))
    try:
        engine = get_engine()
        migrate.upgrade(engine)
        account = load_basemap(engine, None if demo else path, source=source)
    except (DatabaseError, GridGovError) as exc:
        _fail(exc)
    console.print(account.summary(), highlight=False, soft_wrap=True)


@load_app.command("runs")
def runs_cmd(limit: int = typer.Option(20, min=1, help="How many runs.")) -> None:
    """List the latest import runs and their account."""
    try:
        with get_engine().connect() as conn:
            frame = import_runs(conn=conn, limit=limit)
    except DatabaseError as exc:
        _fail(exc)
    table = Table(title="import runs")
    for column in (
        "id",
        "layer",
        "source",
        "status",
        "n_read",
        "n_loaded",
        "n_quarantined",
        "n_present",
        "started_at",
    ):
        table.add_column(column)
    for row in frame.itertuples():
        table.add_row(
            *(
                str(getattr(row, c))
                for c in (
                    "id",
                    "layer",
                    "source",
                    "status",
                    "n_read",
                    "n_loaded",
                    "n_quarantined",
                    "n_present",
                    "started_at",
                )
            )
        )
    Console(width=max(console.width, 160)).print(table)  # not cut at 80 columns


@load_app.command("quarantine")
def quarantine_cmd(
    run_id: int = typer.Argument(..., help="Import run id (see `gridgov load runs`)."),
    limit: int = typer.Option(50, min=1, help="How many rows."),
) -> None:
    """Show quarantined rows of a run: row, source id, reason, message."""
    try:
        with get_engine().connect() as conn:
            frame = quarantined(conn=conn, run_id=run_id, limit=limit)
    except DatabaseError as exc:
        _fail(exc)
    table = Table(title=f"quarantine of run {run_id}")
    for column in ("row_number", "source_id", "reason", "message"):
        table.add_column(column)
    for row in frame.itertuples():
        # reason and message are NOT NULL text columns
        table.add_row(str(row.row_number), str(row.source_id), str(row.reason), str(row.message))
    console.print(table)


def _export_identity(user: str | None, role: str, personal: bool) -> tuple[str, str]:
    """(role, actor) for the export audit: a verified dashboard login, else the OS account.

    Neither is taken as typed when it matters: personal data needs a login whose
    password is checked here, and then the role is that login's.
    """
    import getpass

    from layers.auth import authenticate

    if user is None:
        if personal and role in PERSONAL_DATA_ROLES:
            raise IngestError(
                "personal data: give --user (your dashboard login, password asked); the role "
                "is then your login's, not the one typed"
            )
        return role, f"os:{getpass.getuser()}"
    password = typer.prompt(f"password for {user}", hide_input=True)
    with get_engine().connect() as conn:
        found = authenticate(conn=conn, username=user, password=password)
    if found is None:
        raise IngestError(f"user {user!r}: unknown, disabled, or wrong password")
    if role not in ("viewer", found.role):
        raise IngestError(f"user {user!r} holds role {found.role}, not {role}")
    return found.role, found.username


def _export_command(layer: str):  # type: ignore[no-untyped-def]
    def command(
        *,
        path: Path = typer.Argument(..., help="Output: .geojson, .gpkg, .csv or .parquet."),  # noqa: B008
        community: str = typer.Option(None, help="Only this community (12-digit code)."),
        category: str = typer.Option(None, help="Catalogue code, major (E01) or minor (E0104)."),
        status: str = typer.Option(None, help="Only this status."),
        source: str = typer.Option(None, help="Only this source system."),
        since: datetime = typer.Option(None, help="Cases reported at or after."),  # noqa: B008
        until: datetime = typer.Option(None, help="Cases reported before."),  # noqa: B008
        fmt: str = typer.Option(None, "--format", help="geojson, gpkg, csv or parquet."),
        role: str = typer.Option(
            "viewer", help="The role you export in; with --user it must be that login's role."
        ),
        user: str = typer.Option(
            None,
            help="Your dashboard login (password asked): its role and name are what the "
            "audit records and what personal data needs. Without it: your OS account, no "
            "personal data.",
        ),
        include_personal_data: bool = typer.Option(
            False,
            "--include-personal-data",
            help="Add reporters' names and phones (roles: "
            + ", ".join(sorted(PERSONAL_DATA_ROLES))
            + ").",
        ),
    ) -> None:
        filters = ExportFilter(community, category, status, source, since, until)
        try:
            role, actor = _export_identity(user, role, include_personal_data)
            with get_engine().begin() as conn:
                result = export_layer(
                    layer,
                    path,
                    conn=conn,
                    filters=filters,
                    fmt=fmt,
                    role=role,
                    actor=actor,
                    include_personal_data=include_personal_data,
                )
        except (IngestError, DatabaseError) as exc:
            _fail(exc)
        extra = " with personal data (audited)" if result.personal_data else ""
        console.print(f"{result.rows:,} {layer} written to {result.path} ({result.format}){extra}.")

    command.__doc__ = f"Export {layer} (optionally filtered)."
    return command


for _layer in ("cases", "parts", "buildings", "communities", "streets", "grids"):
    export_app.command(_layer)(_export_command(_layer))
