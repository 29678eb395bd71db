"""Provisional grids for the demo: consecutive runs of buildings along a Hilbert curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from gis.demo.geography import Geography


def simple_grids(geo: Geography, target: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    """Cut each community's buildings into runs of ~``target`` households.

    Returns the grids (community_idx, seq, households, geometry) and, per
    building, the index of its grid. Grid polygons are the union of the
    buildings' Voronoi cells clipped to the community, so grids tile it.
    """
    b = geo.buildings
    grid_of_building = np.full(len(b), -1)
    rows = []
    for ci, poly in enumerate(geo.communities.geometry):
        idx = np.flatnonzero(b.community_idx.to_numpy() == ci)
        order = idx[np.argsort(_hilbert(b.x.to_numpy()[idx], b.y.to_numpy()[idx]))]
        hh = b.households.to_numpy()[order]
        n_grids = max(1, round(hh.sum() / target))
        cuts = np.searchsorted(np.cumsum(hh), np.arange(1, n_grids) * hh.sum() / n_grids)
        cells = _voronoi_cells(b.x.to_numpy()[order], b.y.to_numpy()[order], poly)
        for members, member_cells in zip(np.split(order, cuts), np.split(cells, cuts), strict=True):
            if members.size == 0:
                continue
            grid_of_building[members] = len(rows)
            rows.append(
                (
                    ci,
                    int(b.households.to_numpy()[members].sum()),
                    shapely.intersection(shapely.union_all(member_cells), poly),
                )
            )
    grids = pd.DataFrame(rows, columns=["community_idx", "households", "geometry"])
    return grids, grid_of_building


def _voronoi_cells(x: np.ndarray, y: np.ndarray, clip: shapely.Geometry) -> np.ndarray:
    points = shapely.points(x, y)
    diagram = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=clip.buffer(200))
    cells = np.array(diagram.geoms, dtype=object)
    tree = shapely.STRtree(cells)
    pt_idx, cell_idx = tree.query(points, predicate="intersects")
    out = np.empty(len(points), dtype=object)
    out[pt_idx] = cells[cell_idx]
    return out


def _hilbert(x: np.ndarray, y: np.ndarray, order: int = 16) -> np.ndarray:
    """Hilbert-curve distance of each point (vectorised)."""
    n = 1 << order
    xi = ((x - x.min()) / max(np.ptp(x), 1e-9) * (n - 1)).astype(np.int64)
    yi = ((y - y.min()) / max(np.ptp(y), 1e-9) * (n - 1)).astype(np.int64)
    d = np.zeros_like(xi)
    s = n >> 1
    while s > 0:
        rx = (xi & s) > 0
        ry = (yi & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        flip = ~ry
        swap_x = np.where(flip & rx, n - 1 - xi, xi)
        swap_y = np.where(flip & rx, n - 1 - yi, yi)
        xi, yi = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        s >>= 1
    return d
