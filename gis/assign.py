"""Assign points to the polygons and H3 cells they fall in, in bulk."""

from __future__ import annotations

import h3.api.basic_int as h3
import numpy as np
import shapely

H3_RESOLUTIONS = (7, 8, 9, 10)
"""Resolutions stored on every case and part (cells as 64-bit integers)."""


def assign_to_polygons(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Index of the polygon each point lies in, or -1.

    Parameters
    ----------
    points
        Array of shapely Points.
    polygons
        Array of shapely (Multi)Polygons, e.g. the grids of a street.

    Returns
    -------
    numpy.ndarray
        ``int64`` array, one entry per point. A point on a shared boundary goes
        to the polygon with the lowest index (a defined, repeatable rule).

    Notes
    -----
    Uses a shapely STRtree (``intersects`` so that boundary points are kept).
    """
    result = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(polygons) == 0:
        return result
    tree = shapely.STRtree(polygons)
    point_idx, poly_idx = tree.query(points, predicate="intersects")
    # lowest polygon index wins: write in descending order so the smallest lands last
    order = np.lexsort((-poly_idx, point_idx))
    result[point_idx[order]] = poly_idx[order]
    return result


def h3_cells(lon: np.ndarray, lat: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cell (as int64) of each lon/lat pair at ``resolution``.

    Coordinates are de-duplicated first, so repeated locations cost nothing.
    """
    coords = np.column_stack([np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)])
    if len(coords) == 0:
        return np.empty(0, dtype=np.int64)
    unique, inverse = np.unique(coords, axis=0, return_inverse=True)
    cells = np.fromiter(
        (h3.latlng_to_cell(la, lo, resolution) for la, lo in unique),
        dtype=np.uint64,
        count=len(unique),
    )
    return cells.astype(np.int64)[inverse.ravel()]
