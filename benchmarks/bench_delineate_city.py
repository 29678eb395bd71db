"""City-scale delineation: 1,000,000 buildings / ~4,000,000 households / 60 communities.

The input is generated here (seeded): a 30 × 30 km city cut into 60 communities (Voronoi
tessellation of jittered seeds), 1,000,000 building points in clusters (dense cores,
suburbs, sparse outskirts), households 1–40 per building skewed to small ones (mean ≈ 4),
a few dozen towers with more than 500 households, and 8 major roads as barriers.

``gis.delineate.delineate`` is timed and its peak memory (process peak RSS, input
included) measured; the bar is < 120 s, < 4 GB, ≥ 95 % of grids in 300–500 and every
household in exactly one grid. The named baseline, measured in the same run, is the
provisional *Hilbert-run* method the demo used before (``gis/demo/grids.py``: sort each
community's buildings along a Hilbert curve, cut consecutive runs of ≈ 400 households,
union their Voronoi cells with ``union_all``) — copied here so the benchmark does not
depend on the demo module. It ignores barriers.

Run: ``flock /tmp/gridgov-bench.lock uv run python benchmarks/bench_delineate_city.py``
(``--buildings N`` for a smaller run, ``--no-baseline`` to skip the baseline).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis import partition
from gis.delineate import delineate

CRS = 32650  # UTM 50N (any metre CRS would do)
SIZE_M = 30_000.0


def make_city(n_buildings: int, n_communities: int = 60, seed: int = 7):
    """(buildings, communities, barriers) GeoDataFrames of a synthetic city."""
    rng = np.random.default_rng(seed)
    box = shapely.box(0, 0, SIZE_M, SIZE_M)
    nx = 10
    ny = -(-n_communities // nx)
    gx, gy = np.meshgrid((np.arange(nx) + 0.5) / nx, (np.arange(ny) + 0.5) / ny)
    seeds = np.c_[gx.ravel(), gy.ravel()][:n_communities] * SIZE_M
    seeds += rng.normal(0, 700, seeds.shape)
    cells = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=box, ordered=True)
    comm = shapely.intersection(np.asarray(cells.geoms), box)
    communities = gpd.GeoDataFrame(
        {"code": [f"C{i:03d}" for i in range(n_communities)]}, geometry=comm, crs=CRS
    )

    # clusters: dense centre, many neighbourhood centres, sparse background
    n_clusters = 1500
    centres = rng.normal(SIZE_M / 2, SIZE_M / 5, (n_clusters, 2))
    spread = rng.uniform(60, 400, n_clusters)
    n_bg = n_buildings // 10
    which = rng.integers(0, n_clusters, n_buildings - n_bg)
    pts = centres[which] + rng.normal(0, 1, (len(which), 2)) * spread[which, None]
    pts = np.vstack([pts, rng.uniform(0, SIZE_M, (n_bg, 2))])
    outside = ((pts <= 0) | (pts >= SIZE_M)).any(axis=1)
    pts[outside] = rng.uniform(0, SIZE_M, (int(outside.sum()), 2))  # no pile-up on the edge
    hh = np.clip(np.round(rng.lognormal(1.12, 0.75, n_buildings)), 1, 40).astype(np.int64)
    towers = rng.choice(n_buildings, 40, replace=False)
    hh[towers] = rng.integers(520, 900, towers.size)
    buildings = gpd.GeoDataFrame(
        {"households": hh}, geometry=shapely.points(pts[:, 0], pts[:, 1]), crs=CRS
    )

    roads = []
    for i in range(4):
        y0, y1 = rng.uniform(0.1, 0.9, 2) * SIZE_M
        roads.append(
            shapely.LineString([(0, y0), (SIZE_M / 2, (y0 + y1) / 2 + 300 * i), (SIZE_M, y1)])
        )
        x0, x1 = rng.uniform(0.1, 0.9, 2) * SIZE_M
        roads.append(shapely.LineString([(x0, 0), (x1, SIZE_M)]))
    barriers = gpd.GeoSeries(roads, crs=CRS)
    return buildings, communities, barriers


def hilbert_runs(buildings, communities, target=400):
    """Baseline: the provisional Hilbert-run method (households per grid, grid polygons)."""
    x = shapely.get_x(buildings.geometry.to_numpy())
    y = shapely.get_y(buildings.geometry.to_numpy())
    w = buildings["households"].to_numpy()
    comm_geoms = communities.geometry.to_numpy()
    tree = shapely.STRtree(comm_geoms)
    pi, ci = tree.query(shapely.points(x, y), predicate="intersects")
    comm_of = np.full(len(x), -1)
    comm_of[pi[::-1]] = ci[::-1]
    sums, geoms = [], []
    for c, poly in enumerate(comm_geoms):
        idx = np.flatnonzero(comm_of == c)
        order = idx[np.argsort(_hilbert(x[idx], y[idx]))]
        hh = w[order]
        k = max(1, round(hh.sum() / target))
        cuts = np.searchsorted(np.cumsum(hh), np.arange(1, k) * hh.sum() / k)
        pts = shapely.points(x[order], y[order])
        diagram = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=poly.buffer(200))
        cells = np.asarray(diagram.geoms)
        ptree = shapely.STRtree(cells)
        p_i, c_i = ptree.query(pts, predicate="intersects")
        own = np.empty(len(pts), dtype=object)
        own[p_i] = cells[c_i]
        for members, member_cells in zip(np.split(hh, cuts), np.split(own, cuts), strict=True):
            if members.size:
                sums.append(int(members.sum()))
                geoms.append(shapely.intersection(shapely.union_all(member_cells), poly))
    return np.array(sums), geoms


def _hilbert(x, y, order=16):
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
        sx = np.where(flip & rx, n - 1 - xi, xi)
        sy = np.where(flip & rx, n - 1 - yi, yi)
        xi, yi = np.where(flip, sy, sx), np.where(flip, sx, sy)
        s >>= 1
    return d


def _unrefined(buildings, communities, barriers, ours_s: float, ours_share: float) -> None:
    """Today's method before the refinement (construction only), in the same run."""
    previous = partition.REFINE
    partition.REFINE = False
    try:
        t0 = time.perf_counter()
        d = delineate(buildings, communities, barriers=barriers)
        s = time.perf_counter() - t0
    finally:
        partition.REFINE = previous
    share = d.report.share_in_range
    print(
        f"construction only (no refinement, the method before): {s:.1f} s, {len(d.grids):,} "
        f"grids, {share:.1%} in {d.report.low}–{d.report.high}; refined vs unrefined: time "
        f"{ours_s / s:.2f}x, grids out of range {(1 - ours_share) / max(1e-9, 1 - share):.2f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buildings", type=int, default=1_000_000)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    buildings, communities, barriers = make_city(args.buildings)
    total_hh = int(buildings["households"].sum())
    print(
        f"input: {len(buildings):,} buildings, {total_hh:,} households, "
        f"{len(communities)} communities, {len(barriers)} barrier lines "
        f"(generated in {time.perf_counter() - t0:.1f} s)"
    )
    t0 = time.perf_counter()
    d = delineate(buildings, communities, barriers=barriers)
    ours_s = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    r = d.report
    hh_grid = d.grids["households"].to_numpy()
    counts = np.bincount(d.assignment.to_numpy(), minlength=len(d.grids))
    exactly_once = (
        len(d.assignment) + len(d.set_aside) == len(buildings)
        and d.assignment.index.is_unique
        and int(hh_grid.sum())
        == total_hh
        - int(buildings["households"].loc[d.set_aside["row"]].sum() if len(d.set_aside) else 0)
        and r.buildings_not_covered == 0
        and counts.sum() == len(d.assignment)
    )
    print(r.to_text())
    print(
        f"delineate: {ours_s:.1f} s, peak RSS {peak_gb:.2f} GB, {len(d.grids):,} grids, "
        f"{r.share_in_range:.1%} in {r.low}–{r.high}, every household in exactly one grid: "
        f"{exactly_once}"
    )
    bar = ours_s < 120 and peak_gb < 4 and r.share_in_range >= 0.95 and exactly_once
    print(f"BAR (<120 s, <4 GB, >=95% in range, exactly once): {'PASS' if bar else 'FAIL'}")
    _unrefined(buildings, communities, barriers, ours_s, r.share_in_range)
    if args.no_baseline:
        return
    t0 = time.perf_counter()
    sums, geoms = hilbert_runs(buildings, communities)
    base_s = time.perf_counter() - t0
    share = float(((sums >= 300) & (sums <= 500)).mean())
    multi = int((shapely.get_num_geometries(np.asarray(geoms, dtype=object)) > 1).sum())
    print(
        f"baseline Hilbert runs (gis/demo/grids.py method, no barriers): {base_s:.1f} s, "
        f"{len(sums):,} grids, {share:.1%} in 300–500, {multi} not contiguous"
    )
    print(f"ratio baseline/delineate: {base_s / ours_s:.1f}x")


if __name__ == "__main__":
    main()
