"""Heat on H3 cells: roll counts up to coarser resolutions, draw cells, class colours."""

from __future__ import annotations

from typing import cast

import geopandas as gpd
import h3.api.basic_int as h3
import numpy as np
import pandas as pd
import shapely

from gis.crs import WGS84

HEAT_COLOURS = ["#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603"]


def to_resolution(counts: pd.DataFrame, resolution: int) -> pd.DataFrame:
    """Sum ``counts`` (columns cell, n) into parent cells at ``resolution``."""
    if counts.empty:
        return pd.DataFrame({"cell": pd.Series(dtype="int64"), "n": pd.Series(dtype="int64")})
    cells = counts.cell.to_numpy(dtype=np.int64)
    parents = np.fromiter(
        (h3.cell_to_parent(int(c), resolution) for c in cells), dtype=np.int64, count=len(cells)
    )
    summed = pd.DataFrame({"cell": parents, "n": counts.n.to_numpy()}).groupby(
        "cell", as_index=False
    )
    return cast(pd.DataFrame, summed.n.sum())  # as_index=False: a frame (cell, n)


def cell_polygons(counts: pd.DataFrame) -> gpd.GeoDataFrame:
    """Hexagon polygons (EPSG:4326) for the cells of ``counts``, keeping its columns."""
    polys = [
        shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(int(c))])
        for c in counts.cell
    ]
    out = gpd.GeoDataFrame(counts.copy(), geometry=polys, crs=WGS84)
    out["cell"] = out.cell.map(h3.int_to_str)
    return out


def heat_classes(values: np.ndarray, n_classes: int = len(HEAT_COLOURS)) -> np.ndarray:
    """Quantile class (0 … n_classes-1) of each value; equal values share a class."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return np.zeros(0, dtype=int)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, n_classes + 1)[1:-1]))
    return np.searchsorted(edges, values, side="right").astype(int)


def cells_covering(area: shapely.Geometry, resolution: int) -> np.ndarray:
    """Every H3 cell (int) whose centre lies in ``area`` (EPSG:4326) — the study area."""
    polygons = [area] if area.geom_type == "Polygon" else list(area.geoms)
    cells: set[int] = set()
    for polygon in polygons:
        shape = h3.LatLngPoly(
            [(lat, lng) for lng, lat in polygon.exterior.coords],
            *[[(lat, lng) for lng, lat in ring.coords] for ring in polygon.interiors],
        )
        cells.update(h3.h3shape_to_cells(shape, resolution))
    return np.array(sorted(cells), dtype=np.int64)


def with_zeros(counts: pd.DataFrame, cells: np.ndarray) -> pd.DataFrame:
    """``counts`` (cell, n) over the study area's ``cells`` plus every counted cell.

    Cells of the area where nothing happened get 0; counted cells whose centre lies
    just outside the area (edge cells) are kept, so no case is lost.
    """
    full = pd.DataFrame({"cell": np.union1d(cells, counts.cell.to_numpy(dtype=np.int64))})
    merged = full.merge(counts, on="cell", how="left")
    return merged.fillna({"n": 0}).astype({"n": "int64"})


def resolution_for_extent(
    extent: tuple[float, float, float, float] | None,
    resolutions: tuple[int, ...] = (7, 8, 9),
    max_cells: int = 1_500,
) -> int:
    """The finest H3 resolution at which a lon/lat box holds at most ``max_cells`` cells.

    So a community is drawn in fine hexagons and a whole city in coarser ones: a
    map that reads at the zoom it is shown at, and a page that stays light.
    """
    if not extent:
        return min(resolutions)
    minx, miny, maxx, maxy = extent
    km_per_deg = 111.32
    width = abs(maxx - minx) * km_per_deg * np.cos(np.radians((miny + maxy) / 2))
    area_km2 = max(width * abs(maxy - miny) * km_per_deg, 1e-6)
    fitting = [r for r in resolutions if area_km2 / h3.average_hexagon_area(r, "km^2") <= max_cells]
    return max(fitting) if fitting else min(resolutions)
