"""`gridgov grids …`: delineate, redraw, report and export the grids (no SQL, no geometry here)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from city import GridSize, GridSizeError, profile
from cli.errors import fail
from cli.ingest import _export_command
from dashboard.redraw_text import change_list_text
from gis.dask_parts import PartsMapper, SchedulerUnreachableError, parts_mapper
from gis.delineate import DelineationError
from gis.grid_codes import GridCodeError
from gis.redraw import Redraw, RedrawError
from layers.db import DatabaseError, get_engine
from layers.grids import (
    GridInputError,
    GridProposal,
    GridWriteError,
    WriteSummary,
    current_report,
    grid_history,
    propose_grids,
    read_buildings_file,
    write_grids,
)

if TYPE_CHECKING:
    import geopandas as gpd

console = Console()
err = Console(stderr=True)

grids_app = typer.Typer(
    help=f"Grids (网格) of about {profile().grid.target} households that grid workers walk: "
    "delineate them, redraw "
    "them when housing changes (history kept), report their quality, export them.",
    no_args_is_help=True,
)
KNOWN_ERRORS = (
    DatabaseError,
    DelineationError,
    GridCodeError,
    GridInputError,
    GridSizeError,
    GridWriteError,
    RedrawError,
    SchedulerUnreachableError,
)

COMMUNITY = typer.Option(
    None,
    "--community",
    "-c",
    help="12-digit community code; repeat for several. Default: every community.",
)
_SIZE = profile().grid
TARGET = typer.Option(_SIZE.target, help="Households per grid to aim at (city profile).")
LOW = typer.Option(_SIZE.low, help="Fewest households a grid may have (city profile).")
HIGH = typer.Option(_SIZE.high, help="Most households a grid may have (a tower block above it "
                    "gets a grid of its own; city profile).")  # fmt: skip


_fail = fail  # the CLI's one error printer (cli.errors)


@grids_app.command("delineate")
def delineate_cmd(
    *,
    community: list[str] = COMMUNITY,
    target: int = TARGET,
    low: int = LOW,
    high: int = HIGH,
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Only print the quality report (and with --redraw the change list); write nothing.",
    ),
    redraw: bool = typer.Option(
        False,
        "--redraw",
        help="Keep every grid that still fits (households in range, inside its community) "
        "with its code; redraw only the others, with a neighbour when needed.",
    ),
    from_file: Path = typer.Option(  # noqa: B008
        None,
        "--from-file",
        help="Buildings with a 'households' column from .gpkg, .geojson or .csv (lon/lat "
        "columns, WGS 84) instead of the buildings layer.",
    ),
    valid_from: datetime = typer.Option(  # noqa: B008
        None,
        "--valid-from",
        formats=["%Y-%m-%d"],
        help="Day the new grids take effect (default: today); replaced grids end that day.",
    ),
    scheduler: str = typer.Option(
        None,
        "--scheduler",
        help="Dask 调度器地址，每个社区一个任务在其 worker 上划分 — Dask scheduler address "
        "(tcp://host:port): one task per community on its workers; the grids are read and "
        "written here, the same as in this process (the default). Not with --redraw.",
    ),
) -> None:
    """Delineate grids of about TARGET households inside communities, not crossing major roads.

    Without --redraw the communities are delineated afresh (a grid drawn again the
    same keeps its code). The grids are written as a new version: replaced grids
    get valid_to, new ones valid_from; cases keep the grid they were filed in.
    """
    from layers import migrate

    if scheduler and redraw:
        raise typer.BadParameter(
            "重绘在本进程中运行 a redraw runs in this process: leave out --scheduler",
            param_hint="--scheduler",
        )
    try:
        size = GridSize(target=target, low=low, high=high)
        buildings = read_buildings_file(from_file) if from_file else None
        with (
            parts_mapper(scheduler) as map_parts,  # connected first: unreachable, nothing done
            _bar() as bar,
        ):
            if not dry_run:
                migrate.upgrade(get_engine())
            proposal, summary = _delineate_and_write(
                bar,
                communities=community or None,
                redraw=redraw,
                size=size,
                buildings=buildings,
                dry_run=dry_run,
                valid_from=valid_from,
                map_parts=map_parts,
            )
    except KNOWN_ERRORS as exc:
        _fail(exc)
    if scheduler:
        console.print(f"Dask: {len(proposal.source.communities)} communities on {scheduler}.")
    _print_proposal(proposal.redraw, redraw=redraw)
    if summary is None:
        console.print("\n[bold]dry run[/]: nothing was written.")
    else:
        _print_written(summary)


def _delineate_and_write(
    bar: Progress,
    *,
    communities: list[str] | None,
    redraw: bool,
    size: GridSize,
    buildings: gpd.GeoDataFrame | None,
    dry_run: bool,
    valid_from: datetime | None,
    map_parts: PartsMapper | None,
) -> tuple[GridProposal, WriteSummary | None]:
    """Propose (one transaction) and, unless ``dry_run``, write the new version in it."""
    with get_engine().connect() as conn, conn.begin() as transaction:
        task = bar.add_task("reading the layers", total=None)

        def step(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        proposal = propose_grids(
            conn=conn,
            communities=communities,
            redraw=redraw,
            size=size,
            buildings=buildings,
            progress=step,
            map_parts=map_parts,
        )
        summary = None
        if not dry_run:
            bar.update(task, description="writing the new version")
            summary = write_grids(
                proposal.redraw.grids,
                proposal.redraw.changes,
                conn=conn,
                valid_from=valid_from.date() if valid_from else None,
            )
        else:
            transaction.rollback()
    return proposal, summary


def _print_proposal(result: Redraw, *, redraw: bool) -> None:
    """The quality report, the rows set aside and the change list (or the new grids' count)."""
    console.print(result.report.to_text(), highlight=False)
    if len(result.set_aside):
        console.print(f"\n搁置 Set aside ({len(result.set_aside)} rows; first 20):")
        for row in result.set_aside.head(20).itertuples():
            console.print(f"  row {row.row}: {row.reason}", highlight=False)
    console.print()
    if redraw or len(result.changes[result.changes.action != "new"]):
        console.print(change_list_text(result), highlight=False)
    else:
        console.print(f"新增 New grids: {len(result.grids)}", highlight=False)


def _print_written(summary: WriteSummary) -> None:
    """What writing the new version did: kept, changed, retired, new; workers handed over."""
    console.print(
        f"\nwritten as the version of {summary.valid_from}: kept {summary.kept} "
        f"(household counts refreshed: {summary.households_updated}), changed "
        f"{summary.changed}, retired {summary.retired}, new {summary.new}; parts moved to "
        f"their current grid: {summary.parts_moved}.",
        highlight=False,
    )
    for worker, old, new in summary.handed_over:
        console.print(f"  网格员 worker {worker}: {old} (撤销 retired) → {new}", highlight=False)
    if summary.without_worker:
        console.print(
            f"[bold]待分配网格员 No worker yet[/] ({len(summary.without_worker):,}): "
            f"{_some(summary.without_worker)} — assign one.",
            highlight=False,
        )
    if summary.freed:
        console.print(
            f"空闲网格员 Workers without a grid now: {', '.join(summary.freed)}",
            highlight=False,
        )


@grids_app.command("report")
def report_cmd(
    community: list[str] = COMMUNITY,
    low: int = LOW,
    high: int = HIGH,
) -> None:
    """Print the quality report of the grids in force, with households counted from buildings."""
    try:
        # only the range is measured: the target just has to lie inside it
        size = GridSize(target=min(max(_SIZE.target, low), high), low=low, high=high)
        with get_engine().connect() as conn:
            report = current_report(conn=conn, communities=community or None, size=size)
    except KNOWN_ERRORS as exc:
        _fail(exc)
    console.print(report.to_text(), highlight=False)


@grids_app.command("history")
def history_cmd(code: str = typer.Argument(..., help="15-digit grid code.")) -> None:
    """Every version of one grid: households, valid from, valid to."""
    try:
        with get_engine().connect() as conn:
            frame = grid_history(conn=conn, code=code)
    except KNOWN_ERRORS as exc:
        _fail(exc)
    if frame.empty:
        _fail(GridWriteError(f"no grid has the code {code!r}"))
    for row in frame.to_dict("records"):
        until = row["valid_to"] or "now"
        console.print(
            f"{str(row['code']).strip()}  v{row['version']}  id {row['id']}  households "
            f"{row['households']}  {row['valid_from']} → {until}",
            highlight=False,
        )


grids_app.command("export")(_export_command("grids"))


SHOWN_CODES = 12
"""Grid codes listed by name in a summary line; the rest are counted (a city has thousands)."""


def _some(codes: list[str]) -> str:
    """The first :data:`SHOWN_CODES` codes, then how many more (``grids export`` has all)."""
    if len(codes) <= SHOWN_CODES:
        return ", ".join(codes)
    rest = len(codes) - SHOWN_CODES
    return (
        f"{', '.join(codes[:SHOWN_CODES])} … and {rest:,} more 另有 {rest:,} 个 "
        "(gridgov grids export lists them all)"
    )


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
