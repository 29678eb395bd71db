"""Delineation of a tower-block city: compounds of 6–33-storey buildings, 50–450 households each.

The input is generated here (seeded), the way Chinese cities are built: a city of
``--communities`` communities (Voronoi cells of jittered seeds) under a lattice of major roads
(barriers, with a few extra roads and a river that cut blocks below 300 households), filled
with gated compounds (小区) separated by streets. A compound is one kind of housing: walk-ups
(6–7 storeys, 2 flats a floor, 4–8 entrances: 50–112 households a building), mid-rise
(11–18 storeys, 2–4 flats a floor and core, 1–3 cores: 50–216) or high-rise (24–33 storeys:
50–408, clipped to 450); a compound has one design (storeys, flats a floor) and its buildings
differ in cores and by a floor; a few compounds of villas are small and light; a few dozen
single towers have more than 500 households (a grid of their own). Community
totals are whatever the compounds add up to (not multiples of 400).

``gis.delineate.delineate`` (construction + refinement) is timed against the named baseline
measured in the same run: *today's method*, the construction without the refinement step
(``refine=False`` of ``gis.partition.partition_community``, the method before issue 14 item
10). Reported for both: share of grids in 300–500 leaving out single-building towers (the
bar: ≥ 97 %), share of all grids, time, and the process's peak RSS at the end.

Run: ``flock /tmp/gridgov-bench.lock uv run python benchmarks/bench_delineate_towers.py``
(``--buildings N`` for another size, ``--seed S`` for another city).
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
from gis.delineate import Delineation, delineate

CRS = 32650
LOW, HIGH = 300, 500

# kind: (share of compounds, storeys, flats per floor and core, cores, spacing m)
KINDS = {
    "walk-up": (0.30, (6, 7), (2, 2), (4, 8), 28.0),
    "mid-rise": (0.35, (11, 18), (2, 4), (1, 3), 40.0),
    "high-rise": (0.30, (24, 33), (2, 4), (1, 3), 55.0),
    "villas": (0.05, (2, 3), (1, 1), (1, 2), 22.0),
}
PER_BUILDING = (50, 450)
"""Households per building of the flats (villas are lighter: 1–2)."""


def make_tower_city(n_buildings: int = 8_000, n_communities: int = 40, seed: int = 11):
    """(buildings, communities, barriers) of a synthetic tower-block city, in a metre CRS."""
    rng = np.random.default_rng(seed)
    mean_per_compound = 14
    n_compounds = max(1, n_buildings // mean_per_compound)
    size = 260.0 * np.sqrt(n_compounds)  # ≈ one compound per 260 m × 260 m
    box = shapely.box(0, 0, size, size)
    communities = _communities(rng, box, n_communities)
    barriers = _roads(rng, size)
    pts, hh = [], []
    kinds = list(KINDS)
    share = np.array([KINDS[k][0] for k in kinds])
    centres = rng.uniform(0.02 * size, 0.98 * size, (n_compounds, 2))
    for centre, kind in zip(centres, rng.choice(len(kinds), n_compounds, p=share), strict=True):
        xy, w = _compound(rng, centre, KINDS[kinds[kind]])
        pts.append(xy)
        hh.append(w)
    xy = np.vstack(pts)
    w = np.concatenate(hh)
    inside = (xy > 0).all(axis=1) & (xy < size).all(axis=1)
    xy, w = xy[inside], w[inside]
    towers = rng.choice(len(w), min(len(w), 40), replace=False)
    w[towers] = rng.integers(520, 900, len(towers))
    buildings = gpd.GeoDataFrame(
        {"households": w}, geometry=shapely.points(xy[:, 0], xy[:, 1]), crs=CRS
    )
    return buildings, communities, barriers


def _communities(rng, box, n):
    side = int(np.ceil(np.sqrt(n)))
    g = (np.arange(side) + 0.5) / side
    gx, gy = np.meshgrid(g, g)
    size = box.bounds[2]
    seeds = np.c_[gx.ravel(), gy.ravel()][:n] * size
    seeds += rng.normal(0, 0.12 * size / side, seeds.shape)
    cells = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=box, ordered=True)
    comm = shapely.intersection(np.asarray(cells.geoms), box)
    return gpd.GeoDataFrame({"code": [f"T{i:03d}" for i in range(n)]}, geometry=comm, crs=CRS)


def _roads(rng, size):
    """Major roads every ~900 m (jittered, slightly bent), a few extra roads and a river."""
    lines = []
    step = 900.0
    for pos in np.arange(step * 0.6, size, step):
        a, b = pos + rng.normal(0, 60, 2)
        mid = (a + b) / 2 + rng.normal(0, 40)
        lines.append(shapely.LineString([(0, a), (size / 2, mid), (size, b)]))
        a, b = pos + rng.normal(0, 60, 2)
        lines.append(shapely.LineString([(a, 0), (b, size)]))
    for _ in range(max(2, int(size // 1500))):  # short local roads that cut blocks
        x0, y0 = rng.uniform(0, size, 2)
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(300, 900)
        lines.append(
            shapely.LineString(
                [(x0, y0), (x0 + length * np.cos(angle), y0 + length * np.sin(angle))]
            )
        )
    t = np.linspace(0, 1, 40)
    river = np.c_[t * size, size * (0.35 + 0.1 * np.sin(6 * t))]
    lines.append(shapely.LineString(river))
    return gpd.GeoSeries(lines, crs=CRS)


def _compound(rng, centre, kind):
    """Building points and households of one compound: a rotated, jittered lattice."""
    _share, storeys, per_floor, cores, spacing = kind
    n = int(np.clip(rng.poisson(14), 3, 40))
    cols = int(np.ceil(np.sqrt(n * rng.uniform(0.6, 1.6))))
    rows = int(np.ceil(n / cols))
    ii, jj = np.meshgrid(np.arange(cols), np.arange(rows))
    local = np.c_[ii.ravel(), jj.ravel()][:n] * spacing
    local = local - local.mean(axis=0) + rng.normal(0, spacing * 0.08, (n, 2))
    angle = rng.uniform(0, np.pi / 2)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    xy = centre + local @ rot.T
    floors = int(rng.integers(storeys[0], storeys[1] + 1))
    # one design per compound (storeys, flats per floor); buildings differ in their cores
    # (entrances), and a few floors more or less
    flats = int(rng.integers(per_floor[0], per_floor[1] + 1))
    n_cores = rng.integers(cores[0], cores[1] + 1, n)
    w = (floors + rng.integers(-1, 2, n)) * flats * n_cores
    lo, hi = PER_BUILDING if flats > 1 else (1, 2)
    return xy, np.clip(w, lo, hi).astype(np.int64)


def _figures(d: Delineation, seconds: float) -> dict:
    g = d.grids
    hh = g["households"].to_numpy()
    lone = (g["n_buildings"].to_numpy() == 1) & (hh > HIGH)
    ok = (hh >= LOW) & (hh <= HIGH)
    return {
        "seconds": seconds,
        "grids": len(g),
        "towers": int(lone.sum()),
        "share_non_tower": float(ok[~lone].mean()) if (~lone).any() else 1.0,
        "share_all": float(ok.mean()) if len(ok) else 1.0,
        "out_households": int(
            (np.clip(LOW - hh, 0, None) + np.clip(hh - HIGH, 0, None))[~lone].sum()
        ),
    }


def run(buildings, communities, barriers, *, refine: bool) -> dict:
    """Delineate with or without the refinement step; figures of the result."""
    previous = partition.REFINE
    partition.REFINE = refine
    try:
        t0 = time.perf_counter()
        d = delineate(buildings, communities, barriers=barriers)
        seconds = time.perf_counter() - t0
    finally:
        partition.REFINE = previous
    return _figures(d, seconds) | {"report": d.report}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buildings", type=int, default=8_000)
    ap.add_argument("--communities", type=int, default=40)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    t0 = time.perf_counter()
    buildings, communities, barriers = make_tower_city(args.buildings, args.communities, args.seed)
    hh = buildings["households"].to_numpy()
    print(
        f"input: {len(buildings):,} buildings, {int(hh.sum()):,} households "
        f"(per building median {int(np.median(hh))}, {int((hh >= 50).mean() * 100)} % ≥ 50), "
        f"{len(communities)} communities, {len(barriers)} barrier lines "
        f"(generated in {time.perf_counter() - t0:.1f} s)"
    )
    base = run(buildings, communities, barriers, refine=False)
    ours = run(buildings, communities, barriers, refine=True)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(ours["report"].to_text())
    for name, f in (("baseline: construction only (today's method)", base), ("delineate", ours)):
        print(
            f"{name}: {f['seconds']:.1f} s, {f['grids']:,} grids ({f['towers']} single-building "
            f"towers), in {LOW}–{HIGH}: {f['share_non_tower']:.1%} of the others, "
            f"{f['share_all']:.1%} of all; households outside the range {f['out_households']:,}"
        )
    print(
        f"ratio delineate/baseline: time {ours['seconds'] / base['seconds']:.2f}x, "
        f"grids out of range (non-tower) "
        f"{(1 - ours['share_non_tower']) / max(1e-9, 1 - base['share_non_tower']):.2f}x; "
        f"peak RSS {peak_gb:.2f} GB"
    )
    bar = ours["share_non_tower"] >= 0.97
    print(f"BAR (>= 97 % of non-tower grids in {LOW}–{HIGH}): {'PASS' if bar else 'FAIL'}")


if __name__ == "__main__":
    main()
