"""The supervisor's week: patrol coverage per grid, the tracks, workload per worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import pandas as pd
from sqlalchemy.engine import Engine

from gis.coverage import grid_coverage
from layers import areas, grids, patrol_plans, patrols
from layers.workflow.access import Scope
from services.areas import Extent, narrowed_community
from services.uow import unit_of_work


@dataclass
class Coverage:
    """Grids with this week's patrol coverage, the tracks, and workload per worker.

    ``grids`` carries ``covered_share`` (area within reach of anyone's track),
    ``walked_m`` (track length inside the grid) and ``worker_patrol_days``
    (days its own worker patrolled: 0 means nobody walked it on duty).
    """

    extent: Extent | None
    days: tuple[date, date] | None
    grids: gpd.GeoDataFrame
    tracks: gpd.GeoDataFrame
    workload: pd.DataFrame
    plans: gpd.GeoDataFrame | None = None


def supervisor_coverage(
    engine: Engine,
    *,
    scope: Scope | None = None,
    community: str | None = None,
    with_tracks: bool = False,
) -> Coverage:
    """Coverage of each current grid by the patrols of the latest patrol week.

    Reads the stored ``grid_coverage`` of that week (written by the loaders and
    ``gridgov analyse coverage``); when it is missing, computes it in memory.
    The week's tracks (megabytes at street scale) are read only ``with_tracks``.
    """
    community = narrowed_community(scope, community)
    with unit_of_work(engine, scope) as conn:
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
        covered = covered[covered.community_code.str.startswith(community)]
        workload = workload[workload.grid_code.fillna("").str.startswith(community)]
        if not tracks.empty:
            tracks = tracks[tracks.worker_code.isin(covered.worker_code)]
    return Coverage(extent, week, covered, tracks, workload, plans)


def narrow_coverage(
    data: Coverage, community: str | None, extent: Extent | None = None
) -> Coverage:
    """``data`` narrowed to one area of any level (None: unchanged); no database work."""
    if community is None:
        return data
    grids_here = data.grids[data.grids.community_code.str.startswith(community)]
    if data.days is None:  # no patrols yet: the grids alone, all unvisited
        return Coverage(extent or data.extent, None, grids_here, data.tracks, data.workload)
    tracks = data.tracks
    if not tracks.empty:
        tracks = tracks[tracks.worker_code.isin(grids_here.worker_code)]
    plans = data.plans
    if plans is not None and not plans.empty:
        plans = plans[plans.grid_code.fillna("").str.startswith(community)]
    return Coverage(
        extent or data.extent,
        data.days,
        grids_here,
        tracks,
        data.workload[data.workload.grid_code.fillna("").str.startswith(community)],
        plans,
    )
