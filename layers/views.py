"""What the dashboard pages show: one call per page, each opening its own read-only unit.

Pages hold no SQL: they call these with the engine and get plain tables back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import geopandas as gpd
import pandas as pd
from sqlalchemy.engine import Engine

from gis.coverage import grid_coverage
from layers import (
    areas,
    cases,
    catalogue,
    grids,
    hotspots,
    measures,
    parts,
    patrol_plans,
    patrols,
    rollups,
)


@dataclass
class DistrictMap:
    """The layers of the district map and when they were read."""

    extent: tuple[float, float, float, float] | None
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    parts: gpd.GeoDataFrame
    open_cases: gpd.GeoDataFrame
    open_case_total: int
    now: datetime


def district_map(
    engine: Engine, *, now: datetime, case_limit: int = 5_000, community: str | None = None
) -> DistrictMap:
    """Communities, current grids, parts and open cases (everywhere, or in ``community``)."""
    area = {"community": community}
    with engine.connect() as conn:
        return DistrictMap(
            extent=areas.extent(conn=conn, **area),
            communities=areas.communities(conn=conn, **area),
            grids=grids.current_grids(conn=conn, **area),
            parts=parts.parts(conn=conn, **area),
            open_cases=cases.open_cases(conn=conn, now=now, limit=case_limit, **area),
            open_case_total=cases.count_open(conn=conn, **area),
            now=now,
        )


@dataclass
class LeaderHeat:
    """Case counts per H3 r9 cell and per day for a time window."""

    extent: tuple[float, float, float, float] | None
    days: tuple[date, date] | None
    cells: pd.DataFrame
    daily: pd.DataFrame
    majors: pd.DataFrame


def leader_heat(
    engine: Engine,
    *,
    start: date | None = None,
    end: date | None = None,
    categories: list[str] | None = None,
    community: str | None = None,
) -> LeaderHeat:
    """Heat and trend of cases between ``start`` and ``end`` (default: the whole rollup)."""
    with engine.connect() as conn:
        days = rollups.day_range(conn=conn)
        if days is None:
            empty = pd.DataFrame()
            return LeaderHeat(
                areas.extent(conn=conn), None, empty, empty, catalogue.major_categories(conn=conn)
            )
        start, end = start or days[0], end or days[1]
        area = {"community": community}
        return LeaderHeat(
            extent=areas.extent(conn=conn, **area),
            days=days,
            cells=rollups.counts_by_h3(
                conn=conn, start=start, end=end, categories=categories, **area
            ),
            daily=rollups.daily_counts(conn=conn, start=start, end=end, **area),
            majors=catalogue.major_categories(conn=conn),
        )


@dataclass
class Coverage:
    """Grids with this week's patrol coverage, the tracks, and workload per worker.

    ``grids`` carries ``covered_share`` (area within reach of anyone's track),
    ``walked_m`` (track length inside the grid) and ``worker_patrol_days``
    (days its own worker patrolled: 0 means nobody walked it on duty).
    """

    extent: tuple[float, float, float, float] | None
    days: tuple[date, date] | None
    grids: gpd.GeoDataFrame
    tracks: gpd.GeoDataFrame
    workload: pd.DataFrame
    plans: gpd.GeoDataFrame | None = None


def supervisor_coverage(
    engine: Engine, *, community: str | None = None, with_tracks: bool = False
) -> Coverage:
    """Coverage of each current grid by the patrols of the latest patrol week.

    Reads the stored ``grid_coverage`` of that week (written by the loaders and
    ``gridgov analyse coverage``); when it is missing, computes it in memory.
    The week's tracks (megabytes at street scale) are read only ``with_tracks``.
    """
    with engine.connect() as conn:
        week = patrols.latest_patrol_week(conn=conn)
        current = grids.current_grids(conn=conn)
        extent = areas.extent(conn=conn, community=community)
        if week is None:
            return Coverage(
                extent,
                None,
                current.assign(covered_share=0.0, walked_m=0.0, worker_patrol_days=0),
                gpd.GeoDataFrame(),
                pd.DataFrame(),
            )
        stored = patrols.stored_coverage(conn=conn, week_start=week[0])
        missing = len(stored) < len(current)
        tracks = (
            patrols.patrol_lines(conn=conn, start=week[0], end=week[1])
            if with_tracks or missing
            else gpd.GeoDataFrame()
        )
        workload = patrols.worker_workload(conn=conn, start=week[0], end=week[1])
        plans = patrol_plans.latest_plans(conn=conn, community=community)
    if missing:
        stored = grid_coverage(current, tracks)[["id", "covered_share", "walked_m"]].assign(
            time_spent_h=float("nan")
        )
    covered = current.merge(stored, on="id", how="left").fillna(
        {"covered_share": 0.0, "walked_m": 0.0}
    )
    days = workload.set_index("worker_code").days_on_patrol
    covered["worker_patrol_days"] = covered.worker_code.map(days).fillna(0).astype(int)
    if community:
        # coverage is measured over the whole street (tracks cross boundaries), shown for one
        covered = covered[covered.community_code == community]
        workload = workload[workload.grid_code.fillna("").str.startswith(community)]
        if not tracks.empty:
            tracks = tracks[tracks.worker_code.isin(covered.worker_code)]
    return Coverage(extent, week, covered, tracks, workload, plans)


@dataclass
class OperatorDesk:
    """The live queue of open cases and, when one is selected, its detail and history."""

    extent: tuple[float, float, float, float] | None
    communities: gpd.GeoDataFrame
    queue: gpd.GeoDataFrame
    open_case_total: int
    now: datetime


def operator_desk(
    engine: Engine, *, now: datetime, limit: int = 2_000, community: str | None = None
) -> OperatorDesk:
    """Open cases, newest first (at most ``limit`` on the map and in the queue)."""
    area = {"community": community}
    with engine.connect() as conn:
        return OperatorDesk(
            extent=areas.extent(conn=conn, **area),
            communities=areas.communities(conn=conn, **area),
            queue=cases.open_cases(conn=conn, now=now, limit=limit, **area),
            open_case_total=cases.count_open(conn=conn, **area),
            now=now,
        )


def case_file(engine: Engine, *, case_id: int) -> tuple[dict | None, pd.DataFrame]:
    """A case's detail (reporters masked) and its full history."""
    with engine.connect() as conn:
        return (
            cases.case_detail(conn=conn, case_id=case_id),
            cases.case_history(conn=conn, case_id=case_id),
        )


def performance(
    engine: Engine, *, start: date, end: date, now: datetime, recurrence_days: int = 30
) -> dict[str, pd.DataFrame]:
    """Measures per handling unit and per grid for reports in [start, end]."""
    with engine.connect() as conn:
        return {
            "departments": measures.department_performance(
                conn=conn, start=start, end=end, now=now, recurrence_days=recurrence_days
            ),
            "grids": measures.grid_performance(
                conn=conn, start=start, end=end, now=now, recurrence_days=recurrence_days
            ),
        }


def community_choices(engine: Engine) -> list[tuple[str, str, str]]:
    """(code, name_zh, name_en) of every community, for the area picker."""
    with engine.connect() as conn:
        return areas.community_choices(conn=conn)


def rollup_days(engine: Engine) -> tuple[date, date] | None:
    """First and last day with cases in the rollup, or None."""
    with engine.connect() as conn:
        return rollups.day_range(conn=conn)


@dataclass
class Hotspots:
    """Gi* hotspots of case counts on H3 cells covering the area, for a time window."""

    extent: tuple[float, float, float, float] | None
    resolution: int
    cells: pd.DataFrame  # cell, n, z, p, bin


def leader_hotspots(
    engine: Engine,
    *,
    start: date,
    end: date,
    resolution: int = 9,
    categories: list[str] | None = None,
    community: str | None = None,
) -> Hotspots:
    """Getis-Ord Gi* (FDR-corrected bins) of cases per H3 cell, empty cells counted as 0."""
    with engine.connect() as conn:
        cells = hotspots.hotspot_cells(
            conn=conn,
            start=start,
            end=end,
            resolution=resolution,
            categories=categories,
            community=community,
        )
        extent = areas.extent(conn=conn, community=community)
    return Hotspots(extent, resolution, cells)
