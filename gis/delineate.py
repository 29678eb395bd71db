"""Delineate grids of about ``target`` households that tile each community.

Method (per community, all in a projected metre CRS):

1. **Blocks.** The community polygon is cut along the barrier lines (major roads,
   rivers) with ``shapely.polygonize``. A block with fewer than ``low`` households
   merges with a small neighbour, or rides whole on one grid of a big neighbour (as
   one weighted virtual site on their shared edge), choosing the neighbour that
   balances best, then the longest shared edge. That is the only way a grid crosses a
   barrier, and the quality report counts it.
2. **Sites.** Buildings at one location are one *site* (their households add up),
   so every site owns exactly one Voronoi cell. A site with more than ``high``
   households (a tower block) becomes a grid of its own.
3. **Recursive weighted bisection.** The remaining sites of a block are split into
   ``k`` parts, ``k`` chosen so that ``total / k`` lies in ``[low, high]`` (closest to
   ``target``): the sites are cut across the longer side of their extent at the
   household-weighted quantile ``k1 / k`` (``k1 = k // 2``) and each side is split
   again. Every part ends up with ``≈ total / k`` households, compact (near-square).
4. **Polygons.** The Voronoi cells of the sites (one diagram per block) are unioned
   per part (``coverage_union``, exact because the cells share their edges) and
   clipped to the block, so the parts tile the block with no gap and no overlap.
   A part that came out in several pieces gives each minor piece (and its
   buildings) to the part it shares the longest edge with.

5. **Refinement** (:mod:`gis.refine`, per block, before the polygons of step 4). With lumpy
   weights (tower blocks of 50–450 households) a cut cannot fall inside a building, so
   halving leaves parts out of range. Grids out of range are re-split together with
   their neighbours (a grid and one neighbour, all its neighbours, then their neighbours
   too) into one grid fewer, as many or one more, on the contiguity graph of the sites'
   Voronoi cells clipped to the block; a re-split is kept when every part is contiguous
   and fewer households fall outside the range. Sites never leave their block, so no
   grid crosses a barrier by it; a small block riding on a grid moves as a whole.
6. **Settling** (:mod:`gis.settle`, per community): the redraw's own search
   (:func:`gis.redraw.propose_redraw`: clusters of grids out of range re-delineated with
   up to two neighbours) is run on the result until it finds nothing better, so a redraw
   right after a delineation changes nothing.

This module checks and prepares the input (CRS, overlaps, sites, barriers) and
reports on the result; steps 1, 3, 4 and 5 for one community are :mod:`gis.partition`.
``gis.partition.REFINE = False`` turns steps 5 and 6 off (the construction alone, kept as
the benchmarks' baseline).

Why this method: it runs in ``O(n log n log k)`` with vectorised shapely, it cannot
leave a household out or put it in two grids (each site is in exactly one part and
its cell in exactly that part's polygon), and balance is by construction rather than
by search — region growing / max-p heuristics (spopt) spend minutes on thousands of
areas and still leave many regions outside the range. Search is kept for what
construction cannot do (steps 5 and 6): it only touches grids out of range and their
neighbours, so it costs little where halving already fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from city import SANE_TARGET, GridSize, profile
from gis import partition
from gis.dask_parts import PartsMapper, map_in_process
from gis.errors import GridGovError
from gis.grid_quality import QualityReport, quality_report
from gis.partition import partition_community
from gis.settle import settle_grids

TARGET_RANGE = SANE_TARGET
"""Sane range of the target households per grid (checked by :class:`city.GridSize`)."""

OVERLAP_TOLERANCE_M2 = 1.0
"""Community overlaps smaller than this (digitising noise) are tolerated."""

_SITE_PRECISION_M = 1e-3  # buildings closer than 1 mm are one site


class DelineationError(GridGovError, ValueError):
    """Input that cannot be delineated at all (parameters, community polygons)."""

    code = "bad_delineation_input"
    kind = "bad_input"


@dataclass
class Delineation:
    """Result of :func:`delineate`.

    Attributes
    ----------
    grids
        One row per grid: ``community`` (community key), ``part`` (0.. within the
        community), ``households``, ``n_buildings``, ``oversized`` (a single site with
        more than ``high`` households), ``geometry`` (input CRS).
    assignment
        Input building index → row position in ``grids``, for every kept building.
    set_aside
        Rows that were not used: ``row`` (input index), ``reason`` (readable) and
        ``kind`` (the reason's category, for counting).
    report
        Quality report of the delineation.
    """

    grids: gpd.GeoDataFrame
    assignment: pd.Series
    set_aside: pd.DataFrame
    report: QualityReport
    notes: list[str] = field(default_factory=list)


def delineate(  # noqa: PLR0913 (keyword-only options of one entry point)
    buildings: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    community_key: str = "code",
    households: str = "households",
    barriers: gpd.GeoSeries | None = None,
    size: GridSize | None = None,
    progress: Callable[[int, int], None] | None = None,
    overlaps: str = "error",
    map_parts: PartsMapper | None = None,
) -> Delineation:
    """Cut every community into contiguous, compact grids of about ``target`` households.

    Parameters
    ----------
    buildings
        Points (polygons are replaced by a representative point) with a households
        column. Rows without coordinates, outside every community or with a count
        that is not a non-negative integer are set aside with a reason.
    communities
        Community polygons with a unique key column ``community_key``. Invalid
        polygons are repaired (``make_valid``) and the report says so; overlapping
        ones raise :class:`DelineationError`.
    community_key, households
        Column names.
    barriers
        Optional lines (major roads, rivers) that grids should not cross.
    size
        Households per grid wanted (``size.target``) and the allowed range
        (``size.low..size.high``); default: the city profile's.
    progress
        Called as ``progress(done, total)`` after each community.
    overlaps
        ``"error"`` (default): overlapping communities raise :class:`DelineationError`
        naming them; ``"trim"``: each overlap goes to the community listed first and the
        report says so. Overlaps up to 1 m² are always trimmed.
    map_parts
        How the communities are delineated, one task each (:mod:`gis.dask_parts`): default
        one after another in this process; a :class:`gis.dask_parts.DaskMapper` runs them
        on a Dask cluster. The grids are the same either way (each community's grids are a
        function of its own polygon, sites and the barriers only).

    Returns
    -------
    Delineation

    Raises
    ------
    DelineationError
        Parameters out of range, missing columns, communities that are empty,
        not polygons, unrepairable, duplicated or overlapping.

    Notes
    -----
    Inputs should be in a projected CRS in metres; geographic input is projected to
    its UTM zone internally and the grids are returned in the input CRS.
    """
    size = size or profile().grid
    _check_parameters(buildings, communities, community_key, households, overlaps)
    out_crs = buildings.crs if buildings.crs is not None else communities.crs
    work_crs = _working_crs(buildings, communities)
    comm = communities if work_crs is None else communities.to_crs(work_crs)
    geoms, keys, notes = _prepare_communities(comm, community_key, overlaps)
    bld = buildings if work_crs is None else _to_crs_keep_empty(buildings, work_crs)
    geographic = buildings.crs is not None and buildings.crs.is_geographic
    zero = _zero_zero(buildings) if geographic else np.zeros(len(buildings), dtype=bool)
    x, y, hh, comm_of, aside = _prepare_buildings(bld, households, geoms, zero)
    lines = _barrier_lines(barriers, work_crs)

    site_of, sites = _sites(x, y, hh, comm_of)
    grid_rows, site_grid = _delineate_all(
        geoms, keys, sites, lines=lines, size=size, progress=progress, map_parts=map_parts
    )
    grids = gpd.GeoDataFrame(
        pd.DataFrame(
            grid_rows,
            columns=["community", "part", "households", "n_buildings", "oversized", "geometry"],
        ).astype(
            {"part": "int64", "households": "int64", "n_buildings": "int64", "oversized": bool}
        ),
        geometry="geometry",
        crs=work_crs if work_crs is not None else out_crs,
    )
    kept = np.flatnonzero(comm_of >= 0)
    assignment = pd.Series(
        site_grid[site_of[kept]], index=buildings.index[kept], name="grid", dtype="int64"
    )
    set_aside = pd.DataFrame(aside, columns=["row", "reason", "kind"])
    assigned = gpd.GeoDataFrame(
        {"households": hh[kept], "grid": assignment.to_numpy()},
        geometry=shapely.points(x[kept], y[kept]),
        crs=grids.crs,
    )
    report = quality_report(
        grids,
        assigned,
        gpd.GeoDataFrame({"community": keys}, geometry=geoms, crs=grids.crs),
        None if lines is None else gpd.GeoSeries([lines], crs=grids.crs),
        size,
        set_aside=set_aside,
        notes=notes,
        n_input=len(buildings),
    )
    if work_crs is not None and out_crs is not None and work_crs != out_crs:
        grids = grids.to_crs(out_crs)
    return Delineation(grids, assignment, set_aside, report, notes)


# --- input checks -------------------------------------------------------------------


def _check_parameters(buildings, communities, community_key, households, overlaps):
    if overlaps not in ("error", "trim"):
        raise DelineationError(f"overlaps must be 'error' or 'trim', got {overlaps!r}")
    if not buildings.index.is_unique:
        dup = buildings.index[buildings.index.duplicated()].unique()
        raise DelineationError(
            f"building rows must have a unique index (results refer to it); "
            f"duplicated: {_few(list(dup))}"
        )
    if households not in buildings.columns:
        raise DelineationError(f"buildings have no households column {households!r}")
    if community_key not in communities.columns:
        raise DelineationError(f"communities have no key column {community_key!r}")
    if len(communities) == 0:
        raise DelineationError("no communities given: grids must lie inside a community")
    if (buildings.crs is None) != (communities.crs is None):
        raise DelineationError(
            "buildings and communities must both have a CRS or both have none "
            f"(buildings: {buildings.crs}, communities: {communities.crs})"
        )


def _working_crs(buildings, communities):
    """Metric CRS to work in, or None to work in the input CRS as is."""
    crs = buildings.crs if buildings.crs is not None else communities.crs
    if crs is None:
        return None
    if crs.is_geographic:
        return communities.to_crs(crs).estimate_utm_crs()
    if communities.crs is not None and communities.crs != crs:
        return crs
    return None


def _to_crs_keep_empty(gdf, crs):
    return gdf.set_geometry(gdf.geometry.to_crs(crs))


def _prepare_communities(comm: gpd.GeoDataFrame, key: str, overlaps: str):
    keys = comm[key].to_numpy()
    nulls = pd.isna(comm[key]).to_numpy()
    if nulls.any():
        raise DelineationError(
            f"communities at rows {_few(comm.index[nulls])} have no {key!r} value"
        )
    dup = pd.Series(keys).duplicated(keep=False).to_numpy()
    if dup.any():
        raise DelineationError(f"community keys are not unique: {_few(sorted(set(keys[dup])))}")
    geoms = comm.geometry.to_numpy().astype(object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise DelineationError(f"communities {_few(keys[missing])} have no geometry")
    notes: list[str] = []
    bad_type = ~np.isin(shapely.get_type_id(geoms), [3, 6])
    invalid = ~shapely.is_valid(geoms)
    for i in np.flatnonzero(invalid | bad_type):
        reason = shapely.is_valid_reason(geoms[i]) if invalid[i] else "not a polygon"
        fixed = _polygonal(shapely.make_valid(geoms[i]))
        if fixed is None or fixed.area <= 0:
            raise DelineationError(
                f"community {keys[i]!r} is not a usable polygon ({reason}) "
                "and make_valid cannot repair it"
            )
        notes.append(
            f"community {keys[i]!r}: invalid polygon ({reason}) repaired with make_valid, "
            f"area {geoms[i].area if geoms[i].geom_type != 'GeometryCollection' else 0:.0f} → "
            f"{fixed.area:.0f} m²"
        )
        geoms[i] = fixed
    geoms = _resolve_overlaps(geoms, keys, overlaps, notes)
    return geoms, keys, notes


def _polygonal(geom):
    """The polygonal part of ``geom`` (Polygon/MultiPolygon) or None."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    merged = shapely.union_all(parts)
    return merged if merged.geom_type in ("Polygon", "MultiPolygon") else None


def _resolve_overlaps(geoms, keys, overlaps, notes):
    """Raise on overlaps (``overlaps="error"``) or give each to the community listed first.

    Overlaps up to ``OVERLAP_TOLERANCE_M2`` (digitising noise) are always trimmed so
    that the grids of neighbouring communities never overlap.
    """
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    pairs = a < b
    a, b = a[pairs], b[pairs]
    if not len(a):
        return geoms
    area = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    bad = area > OVERLAP_TOLERANCE_M2
    if bad.any() and overlaps == "error":
        listed = ", ".join(
            f"{keys[i]!r} and {keys[j]!r} ({ar:.0f} m²)"
            for i, j, ar in list(zip(a[bad], b[bad], area[bad], strict=True))[:10]
        )
        more = f" and {bad.sum() - 10} more pairs" if bad.sum() > 10 else ""
        raise DelineationError(
            f"communities overlap: {listed}{more}; fix them, or pass overlaps='trim' to give "
            "each overlap to the community listed first"
        )
    geoms = geoms.copy()
    for i, j, ar in zip(a, b, area, strict=True):
        if ar <= 0:
            continue
        trimmed = _polygonal(shapely.difference(geoms[j], geoms[i]))
        if trimmed is None:
            raise DelineationError(
                f"community {keys[j]!r} lies entirely inside {keys[i]!r}: nothing left to trim"
            )
        geoms[j] = trimmed
        if ar > OVERLAP_TOLERANCE_M2:
            notes.append(
                f"communities {keys[i]!r} and {keys[j]!r} overlapped by {ar:.0f} m²; "
                f"the overlap was given to {keys[i]!r}"
            )
    return geoms


def _prepare_buildings(bld, households, comm_geoms, zero):
    """Points, households, community index (-1 = set aside) and the set-aside rows."""
    n = len(bld)
    index = bld.index
    geom = bld.geometry.to_numpy()
    pts = np.asarray(geom, dtype=object).copy()
    nonpoint = ~shapely.is_missing(pts) & (shapely.get_type_id(pts) != 0)
    if nonpoint.any():
        pts[nonpoint] = shapely.point_on_surface(pts[nonpoint])
    missing = shapely.is_missing(pts) | shapely.is_empty(pts)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    ok = ~missing
    x[ok] = shapely.get_x(pts[ok])
    y[ok] = shapely.get_y(pts[ok])
    no_xy = ~np.isfinite(x) | ~np.isfinite(y)
    raw_hh = bld[households]
    num = pd.to_numeric(raw_hh, errors="coerce").to_numpy(dtype=float)
    hh_bad = ~np.isfinite(num) | (num < 0) | (num != np.round(num))
    hh = np.where(hh_bad, 0, num).astype(np.int64)

    comm_of = np.full(n, -1, dtype=np.int64)
    usable = ~no_xy & ~zero & ~hh_bad
    if usable.any():
        tree = shapely.STRtree(comm_geoms)
        upts = shapely.points(x[usable], y[usable])
        pi, ci = tree.query(upts, predicate="intersects")
        first = np.full(usable.sum(), -1, dtype=np.int64)
        # a point on a shared boundary goes to the first community listed
        order = np.lexsort((ci, pi))
        pi, ci = pi[order], ci[order]
        keep = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, bool)
        first[pi[keep]] = ci[keep]
        comm_of[usable] = first

    aside = []
    for i in np.flatnonzero(comm_of < 0):
        if no_xy[i]:
            reason, kind = "no coordinates", "no coordinates"
        elif zero[i]:
            reason, kind = "no coordinates (0, 0)", "no coordinates"
        elif hh_bad[i]:
            val = raw_hh.iloc[i]
            if pd.isna(val):
                reason = f"households ({households!r}) missing"
            else:
                reason = f"households must be a non-negative integer, got {val!r}"
            kind = "bad households"
        else:
            reason, kind = "outside every community", "outside every community"
        aside.append((index[i], reason, kind))
    return x, y, hh, comm_of, aside


def _zero_zero(buildings):
    """Rows at longitude 0, latitude 0: the usual "no coordinates" placeholder."""
    g = np.asarray(buildings.geometry.to_numpy(), dtype=object)
    pt = ~shapely.is_missing(g) & (shapely.get_type_id(g) == 0) & ~shapely.is_empty(g)
    out = np.zeros(len(g), dtype=bool)
    out[pt] = (shapely.get_x(g[pt]) == 0) & (shapely.get_y(g[pt]) == 0)
    return out


def _barrier_lines(barriers, work_crs):
    if barriers is None or len(barriers) == 0:
        return None
    s = barriers if work_crs is None or barriers.crs is None else barriers.to_crs(work_crs)
    g = np.asarray(s.to_numpy() if hasattr(s, "to_numpy") else s, dtype=object)
    g = g[~shapely.is_missing(g) & ~shapely.is_empty(g)]
    if not len(g):
        return None
    lines = shapely.union_all(
        shapely.boundary(g[shapely.get_dimensions(g) == 2]).tolist()
        + g[shapely.get_dimensions(g) == 1].tolist()
    )
    return None if lines.is_empty else lines


class _Sites(NamedTuple):
    """Sites (buildings at one location, per community): position, households, community."""

    x: np.ndarray
    y: np.ndarray
    hh: np.ndarray
    comm: np.ndarray
    n_b: np.ndarray  # buildings per site


def _sites(x, y, hh, comm_of) -> tuple[np.ndarray, _Sites]:
    """Group kept buildings at one location (per community) into sites."""
    kept = np.flatnonzero(comm_of >= 0)
    rx = np.round(x[kept] / _SITE_PRECISION_M).astype(np.int64)
    ry = np.round(y[kept] / _SITE_PRECISION_M).astype(np.int64)
    c = comm_of[kept]
    order = np.lexsort((ry, rx, c))
    new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        new[1:] = (np.diff(c[order]) != 0) | (np.diff(rx[order]) != 0) | (np.diff(ry[order]) != 0)
    sid_sorted = np.cumsum(new) - 1
    sid = np.empty(len(order), dtype=np.int64)
    sid[order] = sid_sorted
    n_sites = int(sid_sorted[-1] + 1) if len(order) else 0
    first = order[new]
    site_of = np.full(len(x), -1, dtype=np.int64)
    site_of[kept] = sid
    sx = x[kept][first]
    sy = y[kept][first]
    shh = np.bincount(sid, weights=hh[kept], minlength=n_sites).astype(np.int64)
    snb = np.bincount(sid, minlength=n_sites).astype(np.int64)
    return site_of, _Sites(sx, sy, shh, c[first], snb)


def _few(values, n=10):
    vals = [repr(v) if isinstance(v, str) else str(v) for v in list(values)[:n]]
    more = f" … ({len(values) - n} more)" if len(values) > n else ""
    return ", ".join(vals) + more


def _delineate_all(geoms, keys, all_sites: _Sites, *, lines, size, progress, map_parts=None):
    """Grid rows of every community and the grid (row position) of every site."""
    sx, sy, shh, scomm, s_nb = all_sites
    grid_rows: list[tuple] = []
    site_grid = np.full(len(sx), -1, dtype=np.int64)
    order = np.argsort(scomm, kind="stable")
    bounds = np.searchsorted(scomm[order], np.arange(len(geoms) + 1))
    members = [order[bounds[ci] : bounds[ci + 1]] for ci in range(len(geoms))]
    tasks = [
        (poly, sx[sites], sy[sites], shh[sites], s_nb[sites])
        for poly, sites in zip(geoms, members, strict=True)
    ]
    run = map_parts if map_parts is not None else map_in_process
    for ci, parts in enumerate(run(community_task, tasks, (lines, size), progress)):
        sites = members[ci]
        for p, (part_members, geom, oversized) in enumerate(parts):
            site_grid[sites[part_members]] = len(grid_rows)
            grid_rows.append(
                (
                    keys[ci],
                    p,
                    int(shh[sites[part_members]].sum()),
                    int(s_nb[sites[part_members]].sum()),
                    oversized,
                    geom,
                )
            )
    return grid_rows, site_grid


CommunityTask = tuple[shapely.Geometry, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""One community to delineate: polygon and its sites' x, y, households, buildings."""


def community_task(task: CommunityTask, shared: tuple[shapely.Geometry | None, GridSize]) -> list:
    """The parts of one community (a task of :func:`delineate`'s ``map_parts``): plain data in,
    ``[(site positions, polygon, oversized), …]`` out; ``shared`` is (barrier lines, size)."""
    poly, x, y, w, n_b = task
    lines, size = shared
    return _community_parts(poly, x, y, w, n_b, lines=lines, size=size)


def _community_parts(poly, x, y, w, n_b, *, lines, size: GridSize):
    """Parts of one community: construction, refinement, then settled for the redraw.

    A redraw re-delineates clusters of grids with :func:`delineate`, which reaches this
    function; :func:`gis.settle.settle_grids` re-delineates them the same way here, so
    that a redraw right after a delineation finds nothing to improve.
    """
    target, low, high = size.target, size.low, size.high
    parts = partition_community(poly, x, y, w, lines, target=target, low=low, high=high)
    if not partition.REFINE:
        return parts

    def again(union, idx):
        return _community_parts(union, x[idx], y[idx], w[idx], n_b[idx], lines=lines, size=size)

    return settle_grids(parts, w, n_b, low=low, high=high, redelineate=again)
