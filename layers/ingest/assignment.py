"""Assignment on entry: street, community, grid and H3 cells r7–r10 of every point.

The served area is the union of the streets. Polygons are read once per
import; points are assigned in Python on arrays (fast, and the GiST indexes
are not touched row by row). A point on a shared boundary goes to the polygon
listed first (lowest id), the rule of :func:`gis.assign.assign_to_polygons`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import ceil

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.assign import H3_RESOLUTIONS, h3_cells_multi, polygons_containing
from gis.dask_parts import PartsMapper
from layers.ingest.arrays import is_none


@dataclass
class ServedArea:
    """Streets, communities and current grids of the database, as shapely arrays."""

    street_code: np.ndarray
    street_geom: np.ndarray
    community_id: np.ndarray
    community_street: np.ndarray
    community_geom: np.ndarray
    grid_id: np.ndarray
    grid_community: np.ndarray
    grid_geom: np.ndarray

    @property
    def empty(self) -> bool:
        """True when no street is loaded (nothing can be in the area)."""
        return len(self.street_code) == 0


@dataclass
class Assignment:
    """Where each point is: street code (None outside), community and grid ids (-1: none)."""

    street_code: np.ndarray
    community_id: np.ndarray
    grid_id: np.ndarray

    @property
    def inside(self) -> np.ndarray:
        """Mask of points inside the served area."""
        return ~is_none(self.street_code)


def served_area(*, conn: Connection) -> ServedArea:
    """Read the streets, communities and current grids (WGS 84) from the layers."""
    streets = conn.execute(sa.text("SELECT code, ST_AsBinary(geom) FROM streets ORDER BY id")).all()
    communities = conn.execute(
        sa.text("""
        SELECT c.id, s.code, ST_AsBinary(c.geom) FROM communities c
        JOIN streets s ON s.id = c.street_id ORDER BY c.id
    """)
    ).all()
    grids = conn.execute(
        sa.text("SELECT id, community_id, ST_AsBinary(geom) FROM grids_current ORDER BY id")
    ).all()

    def geoms(rows: Sequence[sa.Row], k: int) -> np.ndarray:
        return np.asarray(shapely.from_wkb([bytes(r[k]) for r in rows]), dtype=object)

    return ServedArea(
        street_code=np.array([str(r[0]).strip() for r in streets], dtype=object),
        street_geom=geoms(streets, 1),
        community_id=np.array([r[0] for r in communities], dtype=np.int64),
        community_street=np.array([str(r[1]).strip() for r in communities], dtype=object),
        community_geom=geoms(communities, 2),
        grid_id=np.array([r[0] for r in grids], dtype=np.int64),
        grid_community=np.array([r[1] for r in grids], dtype=np.int64),
        grid_geom=geoms(grids, 2),
    )


def assign_points(area: ServedArea, lon: np.ndarray, lat: np.ndarray) -> Assignment:
    """Street, community and grid of each lon/lat (NaN coordinates are outside).

    Grids are tried first (the smallest polygons; a grid names its community),
    then communities for points in no grid (a point of a community within
    :data:`SEAM_TOLERANCE` of a grid takes that grid), then streets for the rest.
    """
    n = len(lon)
    grid_idx = polygons_containing(area.grid_geom, lon, lat)
    community_id = np.full(n, -1, dtype=np.int64)
    in_grid = grid_idx >= 0
    grid_id = np.full(n, -1, dtype=np.int64)
    grid_id[in_grid] = area.grid_id[grid_idx[in_grid]]
    community_id[in_grid] = area.grid_community[grid_idx[in_grid]]
    rest = np.flatnonzero(~in_grid)
    c_idx = polygons_containing(area.community_geom, lon[rest], lat[rest])
    found = c_idx >= 0
    community_id[rest[found]] = area.community_id[c_idx[found]]
    _grid_across_seam(area, lon, lat, rest[found], community_id=community_id, grid_id=grid_id)
    street = np.full(n, None, dtype=object)
    has = community_id >= 0
    # each community's street by position (an object array: no text column to convert)
    order = np.argsort(area.community_id, kind="stable")
    at = order[np.searchsorted(area.community_id, community_id[has], sorter=order)]
    street[has] = area.community_street[at]
    rest = np.flatnonzero(~has)
    s_idx = polygons_containing(area.street_geom, lon[rest], lat[rest])
    found = s_idx >= 0
    street[rest[found]] = area.street_code[s_idx[found]]
    return Assignment(street, community_id, grid_id)


METRES_PER_DEGREE = 111_320.0
"""Metres per degree of latitude (and of longitude at the equator), for tolerances."""


def assign_near(
    area: ServedArea,
    lon: np.ndarray,
    lat: np.ndarray,
    where: Assignment,
    tolerance_m: float,
) -> np.ndarray:
    """Give points just outside the served area the nearest community (or street).

    A point within ``tolerance_m`` metres of a community (boundaries clipped to
    a shoreline, a geocoder a few metres off) takes that community and its
    street; failing that, the nearest street within the tolerance. ``where`` is
    updated in place. Points with NaN coordinates or already inside are left alone.

    Returns
    -------
    numpy.ndarray
        Distance in metres to the polygon each point was given (NaN: not moved).

    Notes
    -----
    Distances are equirectangular at the point's latitude: exact enough for a
    tolerance of metres.
    """
    distance = np.full(len(lon), np.nan)
    rows = np.flatnonzero(~where.inside & np.isfinite(lon) & np.isfinite(lat))
    if tolerance_m <= 0 or len(rows) == 0:
        return distance
    for geoms, kind in ((area.community_geom, "community"), (area.street_geom, "street")):
        rows = rows[np.isnan(distance[rows])]
        if len(rows) == 0 or len(geoms) == 0:
            continue
        idx, metres = _nearest_within(geoms, lon[rows], lat[rows], tolerance_m)
        hit = idx >= 0
        moved = rows[hit]
        distance[moved] = metres[hit]
        if kind == "community":
            where.community_id[moved] = area.community_id[idx[hit]]
            where.street_code[moved] = area.community_street[idx[hit]]
        else:
            where.street_code[moved] = area.street_code[idx[hit]]
    return distance


def _nearest_within(
    geoms: np.ndarray, lon: np.ndarray, lat: np.ndarray, tolerance_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest polygon within ``tolerance_m`` (-1: none) and its distance (m)."""
    coslat = np.cos(np.radians(np.clip(np.abs(lat), 0, 89)))
    reach = tolerance_m / (METRES_PER_DEGREE * float(coslat.min()))
    points = shapely.points(lon, lat)
    tree = shapely.STRtree(geoms)
    p_idx, g_idx = tree.query_nearest(points, max_distance=reach, all_matches=False)
    idx = np.full(len(lon), -1, dtype=np.int64)
    metres = np.full(len(lon), np.nan)
    if len(p_idx) == 0:
        return idx, metres
    line = shapely.shortest_line(points[p_idx], geoms[g_idx])
    a, b = shapely.get_point(line, 0), shapely.get_point(line, 1)
    dx = (shapely.get_x(b) - shapely.get_x(a)) * coslat[p_idx]
    dy = shapely.get_y(b) - shapely.get_y(a)
    d = np.hypot(dx, dy) * METRES_PER_DEGREE
    ok = d <= tolerance_m
    idx[p_idx[ok]] = g_idx[ok]
    metres[p_idx[ok]] = d[ok]
    return idx, metres


SEAM_TOLERANCE = 1e-5
"""Degrees (about 1 m): how far outside every grid a point of a community may lie and
still get the nearest one (see :func:`_grid_across_seam`)."""


def _grid_across_seam(
    area: ServedArea,
    lon: np.ndarray,
    lat: np.ndarray,
    rows: np.ndarray,
    *,
    community_id: np.ndarray,
    grid_id: np.ndarray,
) -> None:
    """Give ``rows`` (in a community, in no grid) the nearest grid within the tolerance.

    Grids are computed in a metric CRS and stored in WGS 84, the community
    boundaries were drawn by someone else: their edges can miss each other by
    micro-degrees, and a point in that seam would be in a community but in no
    grid. The nearest grid within :data:`SEAM_TOLERANCE` takes it, and names
    its community as every grid does (a point that close to a grid is on the
    boundary of the grid's community too, within what the boundaries are worth).
    Points farther from every grid — in a community not delineated yet — keep no grid.
    """
    if len(rows) == 0 or len(area.grid_geom) == 0:
        return
    tree = shapely.STRtree(area.grid_geom)
    point_idx, grid_idx = tree.query_nearest(
        shapely.points(lon[rows], lat[rows]), max_distance=SEAM_TOLERANCE, all_matches=False
    )
    grid_id[rows[point_idx]] = area.grid_id[grid_idx]
    community_id[rows[point_idx]] = area.grid_community[grid_idx]


Locate = Callable[[ServedArea, np.ndarray, np.ndarray, float], tuple[Assignment, np.ndarray]]
"""``locate(area, lon, lat, tolerance_m)`` → (assignment, metres outside): :func:`locate`,
or a :class:`LocateInParts` that runs it in chunks on a Dask cluster."""


def locate(
    area: ServedArea, lon: np.ndarray, lat: np.ndarray, tolerance_m: float
) -> tuple[Assignment, np.ndarray]:
    """Where each point is (:func:`assign_points`), then the points just outside taken in
    (:func:`assign_near`): the assignment and the metres outside (NaN: not moved).

    Each point's answer depends on that point only, so the rows can be split in any chunks.
    """
    where = assign_points(area, lon, lat)
    return where, assign_near(area, lon, lat, where, tolerance_m)


def locate_chunk(
    chunk: tuple[np.ndarray, np.ndarray], shared: tuple[ServedArea, float]
) -> tuple[Assignment, np.ndarray]:
    """:func:`locate` of one chunk of rows (a task of :class:`LocateInParts`)."""
    area, tolerance_m = shared
    return locate(area, chunk[0], chunk[1], tolerance_m)


CHUNKS_PER_THREAD = 4
"""Chunks of rows per Dask worker thread by default: enough to balance uneven chunks."""
MIN_CHUNK_ROWS = 1_000
"""Fewest rows in a default chunk (below it a task costs more than it does)."""


@dataclass(frozen=True)
class LocateInParts:
    """A :data:`Locate` that assigns the rows with coordinates in chunks, one task each, on
    ``map_parts`` (e.g. :class:`gis.dask_parts.DaskMapper`); the served area is sent to
    every worker once. The same answer as :func:`locate`, row for row.

    ``chunk_rows``: rows per task; default about :data:`CHUNKS_PER_THREAD` chunks per
    thread of the cluster (``threads``), at least :data:`MIN_CHUNK_ROWS` rows each.
    """

    map_parts: PartsMapper
    chunk_rows: int | None = None
    threads: int = 1

    def __call__(
        self, area: ServedArea, lon: np.ndarray, lat: np.ndarray, tolerance_m: float
    ) -> tuple[Assignment, np.ndarray]:
        n = len(lon)
        rows = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))  # the others are outside
        size = self.chunk_rows or max(
            MIN_CHUNK_ROWS, ceil(len(rows) / (CHUNKS_PER_THREAD * max(self.threads, 1)))
        )
        parts = [rows[i : i + size] for i in range(0, len(rows), size)]
        done = self.map_parts(
            locate_chunk, [(lon[p], lat[p]) for p in parts], (area, float(tolerance_m))
        )
        where = Assignment(
            np.full(n, None, dtype=object),
            np.full(n, -1, dtype=np.int64),
            np.full(n, -1, dtype=np.int64),
        )
        near_m = np.full(n, np.nan)
        for p, (part, metres) in zip(parts, done, strict=True):
            where.street_code[p] = part.street_code
            where.community_id[p] = part.community_id
            where.grid_id[p] = part.grid_id
            near_m[p] = metres
        return where, near_m


def h3_columns(lon: np.ndarray, lat: np.ndarray) -> dict[str, np.ndarray]:
    """H3 cells r7–r10 as int64 columns ``h3_r7`` … ``h3_r10``.

    Each resolution is computed from the coordinates (:func:`gis.assign.h3_cells_multi`),
    not derived as the parent of the finest cell: H3 cells are not nested, so
    near an edge a point's r7 cell need not be the parent of its r10 cell, and
    the rest of GridGov uses the cell that contains the point.
    """
    return {f"h3_r{r}": cells for r, cells in h3_cells_multi(lon, lat, H3_RESOLUTIONS).items()}
