"""`gridgov analyse …`: recompute the derived layers the dashboard and QGIS read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

import typer
from rich.console import Console

from layers.db import get_engine

console = Console()
SCHEDULER_HELP = (
    "Dask 调度器地址 (tcp://host:port): 在其工作进程上 分块计算, 每块 自己读取 病例计数;"
    " 默认 在本进程中计算. Dask scheduler address: compute in parts (H3 parent cells with a halo "
    "of one ring) on its workers, each part reading its own counts from PostGIS; default: "
    "in this process."
)
PARTS_HELP = (
    "加 --scheduler 时的 分块数, 默认 每个 Dask 线程 4 块. "
    "With --scheduler: parts of the area (default 4 per Dask thread)."
)
analyse_app = typer.Typer(
    help="Recompute derived layers: rollups, coverage, hotspots, emerging hotspots, density.",
    no_args_is_help=True,
)


def _last_days(conn, days: int) -> tuple[date, date] | None:  # type: ignore[no-untyped-def]
    """The window of the last ``days`` days with cases (from the rollup), or None (said so)."""
    from datetime import timedelta

    from layers.rollups import day_range

    span = day_range(conn=conn)
    if span is None:
        console.print("尚未载入案件，无可分析\nNo cases loaded: nothing to analyse.")
        return None
    return max(span[0], span[1] - timedelta(days=days - 1)), span[1]


@analyse_app.command("rollups")
def rollups(
    since: str = typer.Option(
        None,
        help="Only the leader's measures, only the days touched since this local day "
        "(YYYY-MM-DD): after a load. Default: rebuild everything.",
    ),
    dirty: bool = typer.Option(
        False,
        "--dirty",
        help="Only the days queued as changed (by the workflow, ingests, queue_days) and "
        "the days whose flags they touch: every rollup, equal to a full rebuild.",
    ),
    scheduler: str = typer.Option(
        None,
        help="Dask 调度器地址 (tcp://host:port): 全量重建时 每个 月分区 的 日计数 在其工作进程上"
        " 自己读取并计算; 默认 在本进程中. Dask scheduler address: with a full rebuild, each "
        "month partition of cases is counted by a task on its workers, which reads it from "
        "PostGIS itself; default: one statement in this process.",
    ),
) -> None:
    """Rebuild the daily case rollups (case_daily) and the leader's measures rollups
    (case_measures_daily, case_part_daily) from cases.

    日汇总：加 --scheduler 时每个月分区由 Dask 任务在命令的快照中计数，
    跨月的同一天在此相加；写入的行与单进程相同。

    With --scheduler each month partition of cases is counted by a Dask task
    (in the command's snapshot) and a day two months share is added up here:
    the rows written are those of the single-process path.
    """
    from layers.measures import refresh_measures
    from layers.rollup_queue import refresh_dirty
    from layers.rollups import refresh_rollups
    from layers.rollups_dask import refresh_rollups_on_dask

    if dirty and since:
        raise typer.BadParameter("--dirty or --since, not both", param_hint="--dirty")
    if scheduler and (dirty or since):
        raise typer.BadParameter(
            "--scheduler 仅用于全量重建 a partial rebuild runs in this process: leave out "
            "--scheduler",
            param_hint="--scheduler",
        )
    if dirty:
        with get_engine().begin() as conn:
            n = refresh_dirty(conn)
        console.print(f"rollups rebuilt for {n:,} days queued as changed (or touched by them).")
        return
    if since:
        try:
            day = date.fromisoformat(since)
        except ValueError as e:
            raise typer.BadParameter(
                f"{since!r} is not a day YYYY-MM-DD", param_hint="--since"
            ) from e
        with get_engine().begin() as conn:
            n = refresh_measures(conn=conn, since=day)
        console.print(
            f"case_measures_daily: {n:,} rows rewritten for the days touched since {day}."
        )
        return
    with get_engine().begin() as conn:
        if scheduler:
            with _said_unreachable("日汇总 rollups"):
                rows = refresh_rollups_on_dask(conn=conn, scheduler=scheduler)
        else:
            rows = refresh_rollups(conn=conn)
    console.print(f"case_daily rebuilt: {rows:,} rows; the measures rollups too{_on(scheduler)}.")


@analyse_app.command("coverage")
def coverage(
    week_start: str = typer.Option(
        None,
        help="First day (YYYY-MM-DD); default: the 7 days ending on the last day with patrols.",
    ),
    reach_m: float = typer.Option(
        25.0, min=1, max=200, help="A place counts as walked within this distance (m)."
    ),
    scheduler: str = typer.Option(
        None,
        help="Dask scheduler address (tcp://host:port): compute in parts on its workers, "
        "each reading its workers' tracks and fixes; default: in this process.",
    ),
    fixes: str = typer.Option(
        None,
        help="GPS 点 GeoParquet 目录或分区归档 / GeoParquet fixes (worker_id, at, point) "
        "to read instead of the database's tracks: a directory (one part per file, a file "
        "holding all fixes of its workers) or the partition archive of "
        "`gridgov db partitions detach` (a month or its root: one part per worker group).",
    ),
    parts: int = typer.Option(
        None, min=1, help="With --scheduler: groups of workers (default 4 per Dask thread)."
    ),
) -> None:
    """Patrol coverage of every current grid for one week (table grid_coverage).

    With --scheduler or --fixes the week is computed in parts (dask.distributed; each part
    reads its own fixes); the rows are the same as the single-process path's.
    """
    from datetime import timedelta

    from gis.coverage_dask import SchedulerUnreachableError
    from gis.coverage_parts import CoveragePartsError
    from layers.coverage_dask import refresh_coverage_on_dask
    from layers.patrols import latest_patrol_week, refresh_coverage

    with get_engine().begin() as conn:
        if week_start:
            start = date.fromisoformat(week_start)
            week = (start, start + timedelta(days=6))
        else:
            latest = latest_patrol_week(conn=conn)
            if latest is None:
                console.print(
                    "尚未载入巡查轨迹，无可统计\nNo patrol tracks loaded: nothing to measure."
                )
                return
            week = latest
        if scheduler or fixes:
            try:
                n = refresh_coverage_on_dask(
                    conn=conn,
                    week_start=week[0],
                    week_end=week[1],
                    reach_m=reach_m,
                    scheduler=scheduler,
                    fixes_path=fixes,
                    n_parts=parts,
                )
            except (SchedulerUnreachableError, CoveragePartsError, FileNotFoundError) as exc:
                console.print(f"[red]Cannot compute the coverage:[/red] {exc}")
                raise typer.Exit(2) from exc
        else:
            n = refresh_coverage(conn=conn, week_start=week[0], week_end=week[1], reach_m=reach_m)
    where = f" on {scheduler}" if scheduler else ""
    console.print(
        f"grid_coverage: {n} grids for {week[0]} – {week[1]} (reach {reach_m:g} m){where}."
    )


@analyse_app.command("hotspots")
def hotspots(
    days: int = typer.Option(90, min=7, help="Window: the last DAYS days with cases."),
    resolution: int = typer.Option(9, min=7, max=9, help="H3 resolution of the cells."),
    community: str = typer.Option(None, help="12-digit community code (default: the street)."),
    scheduler: str = typer.Option(None, help=SCHEDULER_HELP),
    parts: int = typer.Option(None, min=1, help=PARTS_HELP),
) -> None:
    """Getis-Ord Gi* hotspots (FDR) of cases on H3 cells, as the layer hotspot_cells.

    热点（Gi*）：加 --scheduler 时按 H3 父格分块，每块带一圈邻格，
    在 Dask 集群上计算；全局均值与方差先算一次，结果与单进程相同。

    With --scheduler the cells are computed in parts (H3 parent cells, each
    with a halo of one ring) on a Dask cluster, with the global mean and
    variance computed once: the rows are those of the single-process path.
    """
    from layers.hotspots import hotspot_cells, store_hotspots
    from layers.hotspots_dask import hotspot_cells_on_dask

    with get_engine().begin() as conn:
        window = _last_days(conn, days)
        if window is None:
            return
        start, end = window
        if scheduler:
            with _said_unreachable("热点 hotspots"):
                cells = hotspot_cells_on_dask(
                    conn=conn,
                    scheduler=scheduler,
                    start=start,
                    end=end,
                    resolution=resolution,
                    community=community,
                    n_parts=parts,
                )
        else:
            cells = hotspot_cells(
                conn=conn, start=start, end=end, resolution=resolution, community=community
            )
        n = store_hotspots(
            conn=conn, cells=cells, resolution=resolution, start=start, end=end, community=community
        )
    hot = int((cells.bin > 0).sum()) if n else 0
    cold = int((cells.bin < 0).sum()) if n else 0
    console.print(
        f"hotspot_cells: {n} cells at H3 r{resolution} for {start} – {end}: "
        f"{hot} hot, {cold} cold (Gi*, FDR-corrected){_on(scheduler)}."
    )


@analyse_app.command("density")
def density(
    *,
    days: int = typer.Option(90, min=1, help="Window: the last DAYS days with cases."),
    category: Annotated[
        list[str] | None,
        typer.Option(help="Service code of a minor or major class (repeatable; default all)."),
    ] = None,
    community: str = typer.Option(None, help="12-digit community code (default: the street)."),
    bandwidth: float = typer.Option(
        None, min=50, help="Search radius in metres (default: Silverman-style, from the data)."
    ),
    levels: int = typer.Option(6, min=1, max=12, help="Number of equal-interval bands."),
    kernel: str = typer.Option("quartic", help="quartic (as GIS heatmaps) or gaussian."),
) -> None:
    """Kernel density of cases (cases per km²) as filled bands, the layer density_bands."""
    from gis.kde import KdeError
    from layers.density import case_density, store_density

    with get_engine().begin() as conn:
        window = _last_days(conn, days)
        if window is None:
            return
        start, end = window
        cats = list(category or []) or None
        try:
            bands, surface = case_density(
                conn=conn,
                start=start,
                end=end,
                categories=cats,
                community=community,
                bandwidth=bandwidth,
                levels=levels,
                kernel=kernel,
            )
        except KdeError as exc:
            console.print(f"[red]Cannot compute the density:[/red] {exc}")
            raise typer.Exit(2) from exc
        n = store_density(
            conn=conn,
            bands=bands,
            surface=surface,
            start=start,
            end=end,
            categories=cats,
            community=community,
        )
    console.print(
        f"density_bands: {n} bands for {start} – {end}, {surface.kernel} kernel, bandwidth "
        f"{surface.bandwidth:.0f} m, peak {surface.density.max():.0f} cases/km² "
        f"({surface.total_weight:.0f} cases)."
    )


@analyse_app.command("emerging")
def emerging(
    weeks: int = typer.Option(
        52, min=4, max=260, help="Weekly slices, ending at the last day with cases."
    ),
    resolution: int = typer.Option(9, min=7, max=9, help="H3 resolution of the cells."),
    scheduler: str = typer.Option(None, help=SCHEDULER_HELP),
    parts: int = typer.Option(None, min=1, help=PARTS_HELP),
) -> None:
    """Emerging hot spots (Gi* per week + Mann-Kendall), as the layer emerging_cells.

    时空热点：加 --scheduler 时按 H3 父格分块，每块带一圈邻格，
    在 Dask 集群上计算；全局均值、方差与 FDR 阈值统一计算，结果与单进程相同。

    With --scheduler the cells are computed in parts on a Dask cluster; the
    mean, variance and FDR thresholds of the whole cube are computed once,
    so the rows are those of the single-process path.
    """
    from datetime import timedelta

    from layers.hotspots import emerging_cells, store_emerging
    from layers.hotspots_dask import emerging_cells_on_dask

    with get_engine().begin() as conn:
        window = _last_days(conn, 1)
        if window is None:
            return
        end = window[1]
        if scheduler:
            with _said_unreachable("时空热点 emerging hot spots"):
                cells = emerging_cells_on_dask(
                    conn=conn,
                    scheduler=scheduler,
                    end=end,
                    weeks=weeks,
                    resolution=resolution,
                    n_parts=parts,
                )
        else:
            cells = emerging_cells(conn=conn, end=end, weeks=weeks, resolution=resolution)
        start = end - timedelta(days=7 * weeks - 1)
        n = store_emerging(conn=conn, cells=cells, resolution=resolution, start=start, end=end)
    summary = cells.category.value_counts().to_dict() if n else {}
    console.print(
        f"emerging_cells: {n} cells at H3 r{resolution}, {weeks} weeks to {end}"
        f"{_on(scheduler)}: {summary}"
    )


def _on(scheduler: str | None) -> str:
    return f" on {scheduler}" if scheduler else ""


@contextmanager
def _said_unreachable(what: str) -> Iterator[None]:
    """An unreachable Dask scheduler ends the command with exit code 2 and says so in
    Chinese and English (the transaction rolls back: nothing is written)."""
    from gis.coverage_dask import SchedulerUnreachableError

    try:
        yield
    except SchedulerUnreachableError as exc:
        console.print(
            f"[red]无法计算{what.split()[0]}：Dask 调度器无应答 / Cannot compute the "
            f"{what.split(maxsplit=1)[1]}: the Dask scheduler does not answer.[/red] {exc}"
        )
        raise typer.Exit(2) from exc
