"""Patrol coverage part by part: the answer of :func:`gis.coverage.grid_coverage` and
:func:`gis.coverage.time_in_grids`, computed from disjoint groups of workers.

Each part (the tracks and GPS fixes of some workers) yields the lattice samples its
tracks came near, the metres walked and the hours spent per grid; :func:`combine_parts`
joins them. A sample is covered when any part covered it, and metres and hours add up,
so the parts can run in any process or on any machine (see :mod:`gis.coverage_dask`).
Every distance test is the one the single-process path makes (the same sample against
the same segment, in the same metric CRS), so the covered shares are identical and the
sums differ from a single pass by rounding only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.coverage import (
    DEFAULT_REACH_M,
    SAMPLE_SPACING_M,
    _lattice,
    _segments,
    _walked_m,
    time_in_grids,
)
from gis.crs import WGS84, utm_epsg
from gis.errors import GridGovError

SEGMENTS_PER_PASS = 50_000
"""Segments tested per pass (every n-th of the part's): samples already covered are not
tested again, which keeps a part's work near (samples + segments) instead of
(samples x nearby segments)."""


class CoveragePartsError(GridGovError, ValueError):
    """The parts handed to :func:`combine_parts` cannot be combined."""

    code = "coverage_parts"
    kind = "bad_input"


@dataclass(frozen=True)
class CoverageLattice:
    """The grids of a coverage run, projected, and their sample lattice (sent to every part).

    ``samples_xy`` are the lattice points inside the grids (metres, in ``epsg``) and
    ``owner`` the index of the grid of each; ``grids`` keeps the WGS 84 polygons.
    """

    grids: gpd.GeoDataFrame
    epsg: int
    polygons: np.ndarray
    samples_xy: np.ndarray
    owner: np.ndarray


@dataclass(frozen=True)
class PartCoverage:
    """What one part contributes: covered sample indices, metres and hours per grid."""

    hit: np.ndarray
    walked_m: np.ndarray
    hours: np.ndarray
    workers: np.ndarray
    name: str = ""


def coverage_lattice(
    grids: gpd.GeoDataFrame, spacing_m: float = SAMPLE_SPACING_M
) -> CoverageLattice:
    """Project ``grids`` (EPSG:4326, with ``id``) and lay the sample lattice over them.

    The same UTM zone and lattice as :func:`gis.coverage.grid_coverage` would use.
    """
    grids = gpd.GeoDataFrame(
        {"id": grids["id"].to_numpy()}, geometry=grids.geometry.to_numpy(), crs=grids.crs
    )
    if grids.empty:
        empty = np.empty(0)
        return CoverageLattice(grids, WGS84, empty, np.empty((0, 2)), empty.astype(np.int64))
    centre = grids.union_all().centroid
    epsg = utm_epsg(centre.x, centre.y)
    polygons = grids.to_crs(epsg).geometry.to_numpy()
    samples, owner = _lattice(polygons, spacing_m)
    return CoverageLattice(grids, epsg, polygons, shapely.get_coordinates(samples), owner)


def part_coverage(
    lattice: CoverageLattice,
    tracks: gpd.GeoDataFrame,
    fixes: pd.DataFrame,
    *,
    reach_m: float = DEFAULT_REACH_M,
    max_gap_s: float = 300,
    name: str = "",
) -> PartCoverage:
    """Coverage contributed by one part: ``tracks`` (lines, EPSG:4326) and ``fixes``
    (worker_id, at, lon, lat) of a group of workers that no other part holds.

    Parameters
    ----------
    lattice
        From :func:`coverage_lattice`, the same for every part.
    reach_m, max_gap_s
        As in :func:`gis.coverage.grid_coverage` and :func:`gis.coverage.time_in_grids`.
    name
        Names the part in error messages (a file, a worker range).
    """
    n_grids = len(lattice.grids)
    workers = np.unique(fixes["worker_id"].to_numpy()) if len(fixes) else np.empty(0, np.int64)
    hours = (
        time_in_grids(lattice.grids, fixes, max_gap_s=max_gap_s).to_numpy()
        if n_grids
        else np.zeros(0)
    )
    if tracks.empty or not n_grids:
        return PartCoverage(np.empty(0, np.int64), np.zeros(n_grids), hours, workers, name)
    segments = _segments(tracks.to_crs(lattice.epsg).geometry.to_numpy())
    return PartCoverage(
        _hit_samples(lattice.samples_xy, segments, reach_m),
        _walked_m(segments, lattice.polygons),
        hours,
        workers,
        name,
    )


def _hit_samples(samples_xy: np.ndarray, segments: np.ndarray, reach_m: float) -> np.ndarray:
    """Sorted indices of the samples within ``reach_m`` of any segment.

    Only samples inside the segments' bounding box (grown by the reach) are candidates;
    the segments are tested a pass at a time, and a sample found covered leaves the pool.
    """
    if not len(segments):
        return np.empty(0, np.int64)
    minx, miny, maxx, maxy = shapely.total_bounds(segments)
    x, y = samples_xy[:, 0], samples_xy[:, 1]
    pool = np.flatnonzero(
        (x >= minx - reach_m)
        & (x <= maxx + reach_m)
        & (y >= miny - reach_m)
        & (y <= maxy + reach_m)
    )
    points = shapely.points(samples_xy[pool])
    covered = np.zeros(len(pool), dtype=bool)
    n_passes = -(-len(segments) // SEGMENTS_PER_PASS)
    for start in range(n_passes):
        open_ = np.flatnonzero(~covered)
        if not len(open_):
            break
        # every n-th segment: each pass spreads over the whole part, so the first
        # passes cover most samples and later passes test few
        tree = shapely.STRtree(segments[start::n_passes])
        near, _ = tree.query(points[open_], predicate="dwithin", distance=reach_m)
        covered[open_[near]] = True
    return pool[covered]


def combine_parts(
    lattice: CoverageLattice, parts: Iterable[PartCoverage]
) -> tuple[pd.DataFrame, pd.Series]:
    """Join the parts: the frame of :func:`gis.coverage.grid_coverage` and the hours of
    :func:`gis.coverage.time_in_grids`, for the lattice's grids.

    Sums are taken in the order of ``parts``, so a run is repeatable.

    Raises
    ------
    CoveragePartsError
        When a worker appears in two parts (a track or a gap between fixes would be cut).
    """
    n_grids = len(lattice.grids)
    hit = np.zeros(len(lattice.owner), dtype=bool)
    walked, hours = np.zeros(n_grids), np.zeros(n_grids)
    seen: dict[int, str] = {}
    for part in parts:
        for worker in part.workers.tolist():
            if worker in seen:
                raise CoveragePartsError(
                    f"worker {worker} is in two parts ({seen[worker] or '?'} and "
                    f"{part.name or '?'}); every part must hold all fixes of its workers."
                )
            seen[worker] = part.name
        hit[part.hit] = True
        walked += part.walked_m
        hours += part.hours
    ids = lattice.grids["id"].to_numpy()
    n_samples = np.bincount(lattice.owner, minlength=n_grids)
    n_hit = np.bincount(lattice.owner[hit], minlength=n_grids)
    share = np.divide(n_hit, n_samples, out=np.zeros(n_grids), where=n_samples > 0)
    coverage = pd.DataFrame({"id": ids, "covered_share": share, "walked_m": walked})
    return coverage, pd.Series(hours, index=ids)


def tracks_from_fixes(fixes: pd.DataFrame, tz: str) -> gpd.GeoDataFrame:
    """Patrol lines (one per worker and local day in ``tz``, at least two fixes, in time
    order) from ``fixes`` (worker_id, at, lon, lat), as ``gridgov patrols derive`` draws them.
    """
    if fixes.empty:
        return gpd.GeoDataFrame(geometry=[], crs=WGS84)
    at = pd.to_datetime(fixes["at"], utc=True).reset_index(drop=True)
    local = at.dt.tz_convert(tz).dt.tz_localize(None).to_numpy()
    day = local.astype("datetime64[D]").astype(np.int64)
    instant = at.dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    worker = fixes["worker_id"].to_numpy().astype(np.int64)
    order = np.lexsort((instant, day, worker))
    worker, day = worker[order], day[order]
    starts = np.r_[True, (worker[1:] != worker[:-1]) | (day[1:] != day[:-1])]
    line = np.cumsum(starts) - 1
    keep = np.bincount(line)[line] >= 2
    xy = np.column_stack([fixes["lon"].to_numpy()[order], fixes["lat"].to_numpy()[order]])
    _, index = np.unique(line[keep], return_inverse=True)
    lines = shapely.linestrings(xy[keep], indices=index)
    return gpd.GeoDataFrame(geometry=lines, crs=WGS84)


def worker_groups(worker_ids: Sequence[int], n_parts: int) -> list[list[int]]:
    """Split ``worker_ids`` into at most ``n_parts`` groups of consecutive ids, none empty."""
    ids = sorted(set(int(w) for w in worker_ids))
    n_parts = max(1, min(n_parts, len(ids)))
    return [
        chunk.tolist()
        for chunk in np.array_split(np.array(ids, dtype=np.int64), n_parts)
        if len(chunk)
    ]
