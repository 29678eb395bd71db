"""Patrol plans for 130 grid workers: OR-Tools (guided local search) vs nearest neighbour.

Synthetic street: 10 communities of 13 grids each; a grid is a 316 m square (~0.1 km²,
~400 households) with 15-40 candidate stops (hotspot cells, parts due for inspection)
at random places, each with a score in 1-10. Every worker starts and ends at the
community office, in the middle of the community's 4 × 4 block of grid squares (so
some of each route is the walk to the grid and back). Shift 4 h, 1.2 m/s, 3 minutes
at each stop. Distances: straight line × 1.3 (the fallback), or with ``--network``
a street lattice with 50 m blocks (shortest paths over the roads).

The baseline walks exactly the stops OR-Tools chose, in nearest-neighbour order, so
the two totals compare routes over the same visits.
Run: ``uv run python benchmarks/bench_patrol_routing.py [--network] [--n-jobs 2]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.patrol_routing import PlanResult, RoadNetwork, Shift, Stop, plan_routes

GRID_M = 316.0
GRIDS_PER_COMMUNITY = 13
BLOCK = 4  # a community is a 4 × 4 block of grid squares, 13 of them used
BUDGET_S = 4 * 3600.0


def synthetic_street(
    workers: int = 130, seed: int = 7, office: str = "community"
) -> tuple[list[Shift], np.ndarray]:
    """One shift per worker; returns the shifts and the street's extent (x_max, y_max)."""
    rng = np.random.default_rng(seed)
    shifts = []
    for w in range(workers):
        community, slot = divmod(w, GRIDS_PER_COMMUNITY)
        block_x = (community % 5) * BLOCK * GRID_M
        block_y = (community // 5) * BLOCK * GRID_M
        gx = block_x + (slot % BLOCK) * GRID_M
        gy = block_y + (slot // BLOCK) * GRID_M
        n = int(rng.integers(15, 41))
        xy = rng.uniform(0, GRID_M, (n, 2)) + np.array([gx, gy])
        scores = rng.uniform(1, 10, n)
        stops = [
            Stop(f"w{w}-s{i}", x, y, s)
            for i, ((x, y), s) in enumerate(zip(xy, scores, strict=True))
        ]
        if office == "community":
            depot = (block_x + BLOCK * GRID_M / 2, block_y + BLOCK * GRID_M / 2)
        else:  # the corner of the worker's own grid
            depot = (gx, gy)
        shifts.append(Shift(f"w{w}", depot, stops, BUDGET_S))
    extent = np.array([5 * BLOCK * GRID_M, 2 * BLOCK * GRID_M])
    return shifts, extent


def street_lattice(extent: np.ndarray, block_m: float = 50.0) -> RoadNetwork:
    """A street grid with ``block_m`` blocks covering ``extent`` (the --network case)."""
    nx, ny = (np.ceil(extent / block_m).astype(int) + 1).tolist()
    gx, gy = np.meshgrid(np.arange(nx) * block_m, np.arange(ny) * block_m, indexing="ij")
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    ids = np.arange(nx * ny).reshape(nx, ny)
    edges = np.vstack(
        [
            np.column_stack([ids[:-1, :].ravel(), ids[1:, :].ravel()]),
            np.column_stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()]),
        ]
    )
    return RoadNetwork.from_edges(xy, edges)


def report(label: str, plans: list[PlanResult], shifts: list[Shift], elapsed: float) -> None:
    ours = sum(p.length_m for p in plans)
    nn = sum(p.baseline_length_m for p in plans)
    visited = sum(len(p.stop_ids) for p in plans)
    candidates = sum(len(s.stops) for s in shifts)
    over = sum(p.duration_s > s.budget_s + 1e-6 for p, s in zip(plans, shifts, strict=True))
    saving = 1 - ours / nn
    print(f"[{label}] {len(plans)} workers planned in {elapsed:.1f} s (bar: under 60 s)")
    print(
        f"[{label}] visited {visited} of {candidates} candidate stops; "
        f"longest shift {max(p.duration_s for p in plans) / 3600:.2f} h; "
        f"plans over budget: {over}"
    )
    print(
        f"[{label}] total route length: OR-Tools {ours / 1000:.1f} km; nearest neighbour over "
        f"the same stops {nn / 1000:.1f} km; OR-Tools is {saving:.1%} shorter "
        f"(NN/OR-Tools = {nn / ours:.3f}; bar: >= 15%) -> "
        f"{'met' if saving >= 0.15 and elapsed < 60 else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=130)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-limit", type=float, default=0.3, help="seconds per worker")
    parser.add_argument("--n-jobs", type=int, default=2, help="processes (the machine has 2)")
    parser.add_argument("--office", choices=["community", "grid-corner", "both"], default="both")
    parser.add_argument("--network", action="store_true", help="walk on a 50 m street lattice")
    args = parser.parse_args()
    offices = ["grid-corner", "community"] if args.office == "both" else [args.office]
    for office in offices:
        shifts, extent = synthetic_street(args.workers, args.seed, office)
        network = street_lattice(extent) if args.network else None
        label = f"{'lattice network' if network else 'straight line x 1.3'}, office: {office}"
        started = time.perf_counter()
        plans = plan_routes(
            shifts, network=network, time_limit_s=args.time_limit, n_jobs=args.n_jobs
        )
        report(label, plans, shifts, time.perf_counter() - started)


if __name__ == "__main__":
    main()
