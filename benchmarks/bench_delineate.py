"""Delineation on 5,000 buildings: ``gis.delineate`` against PySAL spopt's MaxPHeuristic.

Input (seeded): one irregular community of about 2.5 × 2 km with 5,000 building points
in clusters plus scatter, households 1–40 per building skewed to small ones.

Both methods get the same contiguity: the buildings' Voronoi cells clipped to the
community, queen weights (libpysal) for spopt; ``delineate`` builds the same cells
itself. spopt ``MaxPHeuristic(gdf, w, ["x", "y"], "households", threshold=400, top_n=2,
max_iterations_construction=1, max_iterations_sa=1)`` — one construction and one
annealing pass, spopt's fastest setting — is timed (``solve()`` only, weights built
beforehand) against the whole ``delineate`` call (cells, parts, polygons, report).
The bar: ≥ 100× faster with at least spopt's share of grids inside 300–500.

``--spopt-default`` also runs ``MaxPHeuristic`` with its default settings
(``max_iterations_construction=99``, ``max_iterations_sa=10``) in a child process that
is terminated after ``--timeout`` seconds (default 600) and says what happened.

Run: ``flock /tmp/gridgov-bench.lock uv run python benchmarks/bench_delineate.py
[--spopt-default]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from city import GridSize
from gis.delineate import delineate

CRS = 32650
LOW, HIGH, TARGET = 300, 500, 400


def make_layout(n: int = 5000, seed: int = 3):
    """(buildings, community) with ``n`` distinct building points."""
    rng = np.random.default_rng(seed)
    community = shapely.Polygon(
        [(0, 0), (2600, 0), (2500, 1400), (1900, 2100), (600, 2000), (-100, 1100)]
    )
    centres = rng.uniform([200, 200], [2300, 1800], (40, 2))
    pts: list[shapely.Point] = []
    while len(pts) < n:
        m = 2 * (n - len(pts))
        clustered = centres[rng.integers(0, 40, m)] + rng.normal(0, 90, (m, 2))
        scatter = rng.uniform([-100, 0], [2600, 2100], (m // 4, 2))
        xy = np.round(np.vstack([clustered, scatter]), 1)
        cand = shapely.points(xy)
        cand = cand[shapely.contains(community, cand)]
        pts = list(dict.fromkeys([*pts, *cand]))[:n]  # distinct locations only
    points = np.asarray(pts, dtype=object)
    hh = np.clip(np.round(rng.lognormal(1.12, 0.75, n)), 1, 40).astype(np.int64)
    buildings = gpd.GeoDataFrame({"households": hh}, geometry=points, crs=CRS)
    communities = gpd.GeoDataFrame({"code": ["C1"]}, geometry=[community], crs=CRS)
    return buildings, communities


def voronoi_areas(buildings, community):
    """The buildings' Voronoi cells clipped to the community, with x, y and households."""
    pts = buildings.geometry.to_numpy()
    env = shapely.buffer(shapely.envelope(community), 10)
    cells = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=env, ordered=True)
    cells = shapely.intersection(np.asarray(cells.geoms), community)
    return gpd.GeoDataFrame(
        {
            "households": buildings["households"].to_numpy(),
            "x": shapely.get_x(pts),
            "y": shapely.get_y(pts),
        },
        geometry=cells,
        crs=CRS,
    )


def queen(areas):
    from libpysal.weights import Queen

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Queen.from_dataframe(areas, use_index=False, silence_warnings=True)


def run_spopt(areas, w, **kwargs):
    from spopt.region import MaxPHeuristic

    model = MaxPHeuristic(areas, w, ["x", "y"], "households", TARGET, top_n=2, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.solve()
    return model


def share_in_range(sums) -> float:
    sums = np.asarray(sums)
    return float(((sums >= LOW) & (sums <= HIGH)).mean()) if len(sums) else 0.0


def _spopt_default_child(areas, queue) -> None:
    started = time.perf_counter()
    model = run_spopt(areas, queen(areas))
    sums = areas.groupby(np.asarray(model.labels_))["households"].sum().to_numpy()
    queue.put((time.perf_counter() - started, int(model.p), share_in_range(sums)))


def spopt_default(areas, timeout_s: float) -> None:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_spopt_default_child, args=(areas, queue))
    started = time.perf_counter()
    proc.start()
    proc.join(timeout_s)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        print(
            f"spopt MaxPHeuristic default settings (construction 99, SA 10): did not finish "
            f"in {timeout_s:.0f} s; terminated"
        )
        return
    took, p, share = queue.get()
    print(
        f"spopt MaxPHeuristic default settings: finished in {took:.1f} s "
        f"(wall {time.perf_counter() - started:.1f} s), {p} regions, {share:.1%} in 300–500"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buildings", type=int, default=5000)
    ap.add_argument("--spopt-default", action="store_true", help="also run spopt defaults")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()

    buildings, communities = make_layout(args.buildings)
    areas = voronoi_areas(buildings, communities.geometry.iloc[0])
    t0 = time.perf_counter()
    w = queen(areas)
    w_s = time.perf_counter() - t0
    print(
        f"input: {len(buildings):,} buildings, {int(buildings['households'].sum()):,} "
        f"households, 1 community; queen weights of the Voronoi cells built in {w_s:.1f} s "
        f"(mean {w.mean_neighbors:.1f} neighbours)"
    )

    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        result = delineate(buildings, communities, size=GridSize(TARGET, LOW, HIGH))
        runs.append(time.perf_counter() - t0)
    ours_s = min(runs)
    ours_share = result.report.share_in_range
    print(
        f"delineate: {ours_s * 1000:.0f} ms (best of 5), {len(result.grids)} grids, "
        f"{ours_share:.1%} in 300–500, households min/median/max "
        f"{result.report.households_min}/{result.report.households_median:g}/"
        f"{result.report.households_max}, {result.report.not_contiguous} not contiguous"
    )

    t0 = time.perf_counter()
    model = run_spopt(areas, w, max_iterations_construction=1, max_iterations_sa=1)
    spopt_s = time.perf_counter() - t0
    sums = areas.groupby(np.asarray(model.labels_))["households"].sum().to_numpy()
    spopt_share = share_in_range(sums)
    print(
        f"spopt MaxPHeuristic (threshold 400, top_n 2, construction 1, SA 1): {spopt_s:.1f} s, "
        f"{model.p} regions, {spopt_share:.1%} in 300–500, households min/median/max "
        f"{sums.min()}/{np.median(sums):g}/{sums.max()}"
    )
    ratio = spopt_s / ours_s
    print(f"ratio spopt/delineate: {ratio:.0f}x")
    ok = ratio >= 100 and ours_share >= spopt_share
    print(
        f"BAR (>=100x faster, share in range >= spopt's): {'PASS' if ok else 'FAIL'} "
        f"({ratio:.0f}x; {ours_share:.1%} vs {spopt_share:.1%})"
    )
    if args.spopt_default:
        spopt_default(areas, args.timeout)


if __name__ == "__main__":
    main()
