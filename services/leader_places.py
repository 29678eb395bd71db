"""Places on the leader's map: outlines, names and roads under the heat; hotspots ranked and
named by community and nearest road, with their top classes and trend; a place's cases;
the heat week by week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import geopandas as gpd
import h3.api.basic_int as h3
import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from gis import heat
from layers import places
from layers.workflow.access import Scope
from services.areas import narrowed_community
from services.errors import GridGovError
from services.uow import unit_of_work


class PlaceInputError(GridGovError):
    """A place, period or level the leader's views cannot use (names the field)."""

    code = "bad_place"
    kind = "bad_input"


HOTSPOT_PERIODS = (7, 28, 91)
"""Days a hotspot list counts (the last days of the window), against the days before."""


@dataclass
class PlaceLayers:
    """What a map of the area is drawn on: community outlines with a label point, and
    the major roads."""

    communities: gpd.GeoDataFrame  # code, name_zh, name_en, lon, lat, geom
    roads: gpd.GeoDataFrame  # name_zh, name_en, geom


def place_layers(engine: Engine, *, scope: Scope | None = None) -> PlaceLayers:
    """Outlines and names of every community the user sees, and the major roads over them."""
    community = narrowed_community(scope, None)
    with unit_of_work(engine, scope) as conn:
        outlines = places.community_outlines(conn=conn, community=community)
        bounds = tuple(outlines.total_bounds) if not outlines.empty else None
        roads = places.major_roads(conn=conn, bounds=bounds)  # type: ignore[arg-type]
    return PlaceLayers(outlines, roads)


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length just before [start, end]."""
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def hotspot_period(end: date, days: int) -> tuple[date, date]:
    """The last ``days`` days up to ``end``."""
    if days not in HOTSPOT_PERIODS:
        raise PlaceInputError(f"days: the hotspot period must be one of {HOTSPOT_PERIODS}")
    return end - timedelta(days=days - 1), end


def ranked_hotspots(
    engine: Engine,
    *,
    scope: Scope | None = None,
    start: date,
    end: date,
    resolution: int = 8,
    categories: list[str] | None = None,
    community: str | None = None,
    limit: int = 10,
) -> pd.DataFrame:
    """The ``limit`` H3 cells (at ``resolution``) with most cases in [start, end], first
    first: rank, cell (text), n, n_prev (the period before), trend (up, down, flat, new),
    change (share, None when nothing last period), community code and names, road names
    (the nearest named major road, or empty), top classes (names with counts), and the
    cell's bounds (minx, miny, maxx, maxy) for zooming."""
    if not 5 <= resolution <= 9:
        raise PlaceInputError("resolution: an H3 level from 5 to 9")
    community = narrowed_community(scope, community)
    before = previous_period(start, end)
    with unit_of_work(engine, scope) as conn:
        now = places.cell_major_counts(
            conn=conn, start=start, end=end, categories=categories, community=community
        )
        prev = places.cell_major_counts(
            conn=conn, start=before[0], end=before[1], categories=categories, community=community
        )
        if now.empty:
            return _empty_hotspots()
        now = _at(now, resolution)
        prev = _at(prev, resolution)
        totals = (
            now.groupby("cell", as_index=False)
            .agg(n=("n", "sum"))
            .sort_values(["n", "cell"], ascending=[False, True])
        )
        top = totals.head(limit).reset_index(drop=True)
        centres = [h3.cell_to_latlng(int(c)) for c in top.cell]
        roads = places.nearest_roads(conn=conn, points=[(lng, lat) for lat, lng in centres])
    prev_n = prev.groupby("cell").n.sum()
    top["n_prev"] = [int(prev_n.get(c, 0)) for c in top.cell]
    top["change"] = [(n - p) / p if p else None for n, p in zip(top.n, top.n_prev, strict=True)]
    top["trend"] = [_trend(int(n), int(p)) for n, p in zip(top.n, top.n_prev, strict=True)]
    named = _most_cases_community(now)
    top = top.merge(named, on="cell", how="left")
    classes = now.groupby(["cell", "major_zh", "major_en"], as_index=False).agg(n=("n", "sum"))
    top["classes_zh"] = [_top_classes(classes, c, "major_zh") for c in top.cell]
    top["classes_en"] = [_top_classes(classes, c, "major_en") for c in top.cell]
    top["road_zh"] = [r[0] if r else "" for r in roads]
    top["road_en"] = [r[1] if r else "" for r in roads]
    bounds = [
        heat.cell_polygons(pd.DataFrame({"cell": [c], "n": [0]})).total_bounds for c in top.cell
    ]
    top[["minx", "miny", "maxx", "maxy"]] = np.array(bounds)
    top["lat"] = [c[0] for c in centres]
    top["lon"] = [c[1] for c in centres]
    top.insert(0, "rank", range(1, len(top) + 1))
    top["cell"] = top.cell.map(h3.int_to_str)
    top["n"] = top.n.astype(int)
    return top


def _at(counts: pd.DataFrame, resolution: int) -> pd.DataFrame:
    if counts.empty:
        return counts.assign(cell=pd.Series(dtype="int64"))
    return counts.assign(
        cell=[h3.cell_to_parent(int(c), resolution) for c in counts.cell.to_numpy()]
    )


def _trend(n: int, prev: int) -> str:
    if prev == 0:
        return "new"
    if n >= 1.2 * prev:
        return "up"
    if n <= 0.8 * prev:
        return "down"
    return "flat"


def _most_cases_community(counts: pd.DataFrame) -> pd.DataFrame:
    per = counts.groupby(["cell", "community", "name_zh", "name_en"], as_index=False).agg(
        n=("n", "sum")
    )
    per = per.sort_values(["cell", "n"], ascending=[True, False]).drop_duplicates("cell")
    return per.drop(columns="n").rename(
        columns={"name_zh": "community_zh", "name_en": "community_en"}
    )


def _top_classes(classes: pd.DataFrame, cell: int, name: str, k: int = 3) -> str:
    mine = classes[classes.cell == cell].sort_values("n", ascending=False).head(k)
    return " · ".join(f"{row[name]} {int(row.n)}" for _, row in mine.iterrows())


def _empty_hotspots() -> pd.DataFrame:
    columns = [
        "rank", "cell", "n", "n_prev", "change", "trend", "community", "community_zh",
        "community_en", "classes_zh", "classes_en", "road_zh", "road_en",
        "minx", "miny", "maxx", "maxy", "lat", "lon",
    ]  # fmt: skip
    return pd.DataFrame({c: [] for c in columns})


def cases_of_place(
    engine: Engine,
    *,
    scope: Scope | None = None,
    start: date,
    end: date,
    cell: str | None = None,
    grid_code: str | None = None,
    categories: list[str] | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """The cases of a hexagon (an H3 cell of any level 5–9, as text) or of a grid, newest
    first (at most ``limit``); RLS keeps them to the user's area."""
    if (cell is None) == (grid_code is None):
        raise PlaceInputError("place: give a hexagon cell or a grid code, not both")
    cells = None
    if cell is not None:
        try:
            parent = h3.str_to_int(cell)
            level = h3.get_resolution(parent)
        except (ValueError, TypeError) as e:
            raise PlaceInputError(f"cell: {cell!r} is not an H3 cell") from e
        if not h3.is_valid_cell(parent) or not 5 <= level <= 9:
            raise PlaceInputError(f"cell: {cell!r} is not an H3 cell of level 5 to 9")
        cells = [int(c) for c in h3.cell_to_children(parent, 9)]
    with unit_of_work(engine, scope) as conn:
        return places.place_cases(
            conn=conn,
            start=start,
            end=end,
            cells=cells,
            grid_code=grid_code,
            categories=categories,
            limit=limit,
        )


def weekly_heat(
    engine: Engine,
    *,
    scope: Scope | None = None,
    start: date,
    end: date,
    resolution: int = 8,
    categories: list[str] | None = None,
    community: str | None = None,
) -> pd.DataFrame:
    """Cases per week (its Monday) and H3 cell at ``resolution``, with each cell's centre
    (week, cell, n, lat, lon): the frames of the heat's animation."""
    community = narrowed_community(scope, community)
    with unit_of_work(engine, scope) as conn:
        weekly = places.weekly_cell_counts(
            conn=conn, start=start, end=end, categories=categories, community=community
        )
    if weekly.empty:
        return pd.DataFrame({"week": [], "cell": [], "n": [], "lat": [], "lon": []})
    weekly = _at(weekly, resolution).groupby(["week", "cell"], as_index=False).agg(n=("n", "sum"))
    centres = {c: h3.cell_to_latlng(int(c)) for c in weekly.cell.unique()}
    weekly["lat"] = [centres[c][0] for c in weekly.cell]
    weekly["lon"] = [centres[c][1] for c in weekly.cell]
    weekly["cell"] = weekly.cell.map(h3.int_to_str)
    return weekly
