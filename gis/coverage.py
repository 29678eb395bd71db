"""Patrol coverage: how much of each grid a worker's tracks came near."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.assign import assign_to_polygons
from gis.crs import utm_epsg

DEFAULT_REACH_M = 25.0
"""A place counts as walked when a track passed within this distance."""
SAMPLE_SPACING_M = 10.0
"""Coverage is measured on a lattice of sample points this far apart."""


def grid_coverage(
    grids: gpd.GeoDataFrame,
    tracks: gpd.GeoDataFrame,
    reach_m: float = DEFAULT_REACH_M,
    spacing_m: float = SAMPLE_SPACING_M,
) -> pd.DataFrame:
    """Share of each grid's area within ``reach_m`` of any track, and metres walked in it.

    Parameters
    ----------
    grids
        Polygons (EPSG:4326) with an ``id`` column.
    tracks
        Patrol lines (EPSG:4326), any number.

    Returns
    -------
    pandas.DataFrame
        ``id``, ``covered_share`` (0–1), ``walked_m``, one row per grid (0 when unvisited).

    Notes
    -----
    Works in the UTM zone of the grids' centre (metres). The area share is
    estimated on a square lattice of ``spacing_m`` (the share of lattice points
    within reach), which is exact to about ``spacing_m / sqrt(grid area)``;
    tracks are cut into segments so that every distance test is short.
    """
    out = pd.DataFrame({"id": grids["id"].to_numpy(), "covered_share": 0.0, "walked_m": 0.0})
    if grids.empty or tracks.empty:
        return out
    centre = grids.union_all().centroid
    epsg = utm_epsg(centre.x, centre.y)
    polygons = grids.to_crs(epsg).geometry.to_numpy()
    segments = _segments(tracks.to_crs(epsg).geometry.to_numpy())
    samples, owner = _lattice(polygons, spacing_m)
    hit = np.zeros(len(samples), dtype=bool)
    near, _ = shapely.STRtree(segments).query(samples, predicate="dwithin", distance=reach_m)
    hit[near] = True
    n_samples = np.bincount(owner, minlength=len(polygons))
    n_hit = np.bincount(owner[hit], minlength=len(polygons))
    out["covered_share"] = np.divide(
        n_hit, n_samples, out=np.zeros(len(polygons)), where=n_samples > 0
    )
    out["walked_m"] = _walked_m(segments, polygons)
    return out


def _walked_m(segments: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Metres of ``segments`` in each polygon (a segment counts where its midpoint lies)."""
    mid = shapely.line_interpolate_point(segments, 0.5, normalized=True)
    in_grid = assign_to_polygons(mid, polygons)
    lengths = shapely.length(segments)
    return np.bincount(
        in_grid[in_grid >= 0], weights=lengths[in_grid >= 0], minlength=len(polygons)
    )


def _segments(lines: np.ndarray) -> np.ndarray:
    """Every two-point segment of ``lines``."""
    coords, index = shapely.get_coordinates(lines, return_index=True)
    same = index[1:] == index[:-1]
    starts, ends = coords[:-1][same], coords[1:][same]
    return shapely.linestrings(np.stack([starts, ends], axis=1))


def _lattice(polygons: np.ndarray, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Lattice points inside the polygons and the index of the polygon of each."""
    minx, miny, maxx, maxy = shapely.total_bounds(polygons)
    xs = np.arange(minx + spacing_m / 2, maxx, spacing_m)
    ys = np.arange(miny + spacing_m / 2, maxy, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    points = shapely.points(gx.ravel(), gy.ravel())
    owner = assign_to_polygons(points, polygons)
    return points[owner >= 0], owner[owner >= 0]


def time_in_grids(
    grids: gpd.GeoDataFrame, fixes: pd.DataFrame, max_gap_s: float = 300
) -> pd.Series:
    """Hours spent in each grid: the time since a worker's previous GPS fix, credited to
    the grid of the later fix (gaps over ``max_gap_s`` are breaks and are left out).

    ``fixes``: worker_id, at (datetime), lon, lat. Returns hours indexed by grid ``id``.
    """
    if fixes.empty or grids.empty:
        return pd.Series(0.0, index=grids["id"].to_numpy())
    ordered = fixes.sort_values(["worker_id", "at"], kind="stable")
    dt = ordered.groupby("worker_id")["at"].diff().dt.total_seconds().to_numpy()
    inside = assign_to_polygons(
        shapely.points(ordered.lon.to_numpy(), ordered.lat.to_numpy()), grids.geometry.to_numpy()
    )
    keep = (inside >= 0) & (dt <= max_gap_s)
    hours = np.bincount(inside[keep], weights=dt[keep], minlength=len(grids)) / 3600
    return pd.Series(hours, index=grids["id"].to_numpy())
