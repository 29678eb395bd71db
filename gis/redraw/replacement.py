"""A fresh delineation as a change list, and the quality of grids in force or proposed."""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from city import GridSize, profile
from gis.assign import assign_to_polygons
from gis.delineate import Delineation
from gis.grid_quality import QualityReport, quality_report
from gis.redraw.assemble import Plan, Redrawn, assemble
from gis.redraw.inputs import (
    RedrawInputs,
    check_crs,
    current_frame,
    highest_used,
    usable_buildings,
)
from gis.redraw.reasons import DelineatedAfresh, Reason
from gis.redraw.result import Redraw

OUTSIDE = "outside every community"


def plan_replacement(
    current: gpd.GeoDataFrame,
    result: Delineation,
    *,
    size: GridSize | None = None,
    highest: Mapping[str, int] | None = None,
) -> Redraw:
    """A fresh delineation of whole communities as a change list against ``current``.

    New grids that are the same as, or the successor of, a current grid of the
    same community keep its code; the others get fresh codes; current grids of
    the delineated communities without successor are retired. Current grids of
    other communities are not touched and not listed.
    """
    check_crs(current, result.grids)
    current = current_frame(current)
    grids = result.grids.reset_index(drop=True)
    grids["community"] = grids.community.astype(str)
    delineated = sorted(set(grids.community))
    current = current[current.community.isin(delineated)].reset_index(drop=True)
    redrawn = []
    for community in delineated:
        members = np.flatnonzero(current.community.to_numpy() == community)
        rows = np.flatnonzero(grids.community.to_numpy() == community)
        part = Delineation(
            grids=grids.iloc[rows].reset_index(drop=True),
            assignment=pd.Series(dtype=np.int64),
            set_aside=result.set_aside.iloc[0:0],
            report=result.report,
        )
        redrawn.append(Redrawn(members, part, rows))
    reasons: list[Reason | None] = [DelineatedAfresh()] * len(current)
    none = np.zeros(len(current), dtype=np.int64)
    plan = Plan(
        current,
        reasons,
        none,
        none,
        size or profile().grid,
        highest_used(current, highest),
        grids.crs,
        redrawn=redrawn,
        fresh=True,
    )
    proposal, changes, codes = assemble(plan)
    code_of_row = np.empty(len(grids), dtype=object)
    for job, job_codes in zip(redrawn, codes, strict=True):
        code_of_row[job.rows] = job_codes
    position = pd.Series(np.arange(len(proposal)), index=proposal.code.to_numpy())
    assigned = result.assignment.dropna().astype(np.int64)
    assignment = pd.Series(
        position.reindex(code_of_row[assigned.to_numpy()]).to_numpy(), index=assigned.index
    )
    return Redraw(proposal, changes, assignment, result.set_aside, result.report, [result])


def report_current(
    current: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    barriers: gpd.GeoSeries | None = None,
    *,
    community_key: str = "code",
    households: str = "households",
    size: GridSize | None = None,
) -> QualityReport:
    """Quality report of existing grids, households counted from ``buildings`` now.

    Buildings outside every grid count as not covered; bad rows and buildings
    outside every community are set aside, as in a redraw.
    """
    check_crs(current, buildings, communities)
    inputs = RedrawInputs(buildings, communities, community_key, households, barriers, size)
    grids = current_frame(current)
    good, set_aside = usable_buildings(buildings, households)
    pts = shapely.point_on_surface(good.geometry.to_numpy())
    outside = assign_to_polygons(pts, communities.geometry.to_numpy()) < 0
    aside = pd.DataFrame({"row": good.index[outside], "reason": OUTSIDE, "kind": OUTSIDE})
    set_aside = pd.concat([set_aside, aside], ignore_index=True)
    grid_of = assign_to_polygons(pts, grids.geometry.to_numpy())
    hh = good[households].to_numpy(dtype=np.int64)
    inside = grid_of >= 0
    grids["households"] = np.bincount(grid_of[inside], weights=hh[inside], minlength=len(grids))
    grids["households"] = grids.households.astype(np.int64)
    n_b = np.bincount(grid_of[inside], minlength=len(grids))
    grids["oversized"] = (grids.households > inputs.grid.high) & (n_b == 1)
    assignment = pd.Series(grid_of, index=good.index)[~outside]
    return proposal_report(inputs, grids, good, assignment, set_aside)


def proposal_report(
    inputs: RedrawInputs,
    proposal: gpd.GeoDataFrame,
    placed_buildings: gpd.GeoDataFrame,
    assignment: pd.Series,
    set_aside: pd.DataFrame,
) -> QualityReport:
    """Quality report of the whole proposal, buildings as placed by it."""
    placed = placed_buildings[~placed_buildings.index.isin(set_aside.row)]
    grid = assignment.reindex(placed.index).fillna(-1).astype(np.int64)
    assigned = gpd.GeoDataFrame(
        {"households": placed[inputs.households].to_numpy(), "grid": grid.to_numpy()},
        geometry=shapely.point_on_surface(placed.geometry.to_numpy()),
        crs=proposal.crs,
    )
    comm, key = inputs.communities, inputs.community_key
    areas = comm[comm[key].astype(str).isin(proposal.community)]
    areas = gpd.GeoDataFrame(
        {"community": areas[key].astype(str).to_numpy()},
        geometry=areas.geometry.to_numpy(),
        crs=proposal.crs,
    )
    lines = None
    if inputs.barriers is not None and len(inputs.barriers):
        lines = gpd.GeoSeries([shapely.union_all(inputs.barriers.to_numpy())], crs=proposal.crs)
    size = inputs.grid
    return quality_report(
        proposal,
        assigned,
        areas,
        lines,
        size=size,
        set_aside=set_aside,
        n_input=len(inputs.buildings),
    )
