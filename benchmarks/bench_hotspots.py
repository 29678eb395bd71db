"""Gi* on 10,000 H3 cells against PySAL esda's G_Local; emerging hotspots on 52 × 10,000.

Both Gi* implementations get the same binary H3 contiguity (self included) and the
same values; the run prints both timings, their ratio, and the largest differences in
z and in the normal-approximation p-value. The space-time cube has a planted cluster
that grows over the year, one that fades, and Poisson noise elsewhere.
Run: ``uv run python benchmarks/bench_hotspots.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import h3.api.basic_int as h3
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.emerging import emerging_hotspots
from gis.hotspots import gi_star, h3_weights

CENTRE = h3.latlng_to_cell(31.31, 120.63, 9)  # Suzhou, resolution 9 (~0.1 km² cells)


def study_area(n_cells: int) -> np.ndarray:
    """``n_cells`` H3 cells around ``CENTRE`` (a disk, trimmed)."""
    k = 1
    while 3 * k * (k + 1) + 1 < n_cells:
        k += 1
    return np.array(sorted(h3.grid_disk(CENTRE, k)), dtype=np.int64)[:n_cells]


def best_of(repeats: int, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """(result, fastest wall time in seconds) over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        times.append(time.perf_counter() - started)
    return result, min(times)


def bench_gi_star(cells: np.ndarray) -> None:
    from esda.getisord import G_Local
    from libpysal.graph import Graph
    from libpysal.weights import WSP

    values = np.random.default_rng(0).poisson(3, cells.size).astype(float)
    w, weights_s = best_of(3, h3_weights, cells)
    ours, ours_s = best_of(5, gi_star, values, w)
    graph = Graph.from_sparse(w)
    theirs, esda_s = best_of(3, G_Local, values, graph, transform="B", star=True, permutations=0)
    w_object = WSP(w).to_W(silence_warnings=True)
    _, esda_w_s = best_of(3, G_Local, values, w_object, transform="B", star=True, permutations=0)
    print(f"cells: {cells.size:,}; H3 k=1 weights built in {weights_s * 1000:.0f} ms")
    print(
        f"gi_star: {ours_s * 1000:.1f} ms (with weights {(ours_s + weights_s) * 1000:.0f} ms); "
        f"esda G_Local(star=True, permutations=0) on the same weights: {esda_s * 1000:.1f} ms; "
        f"esda / gi_star = {esda_s / ours_s:.1f}x"
    )
    print(
        f"esda G_Local with a libpysal W (the older weights class): {esda_w_s * 1000:.1f} ms; "
        f"esda / gi_star = {esda_w_s / ours_s:.1f}x"
    )
    dz = np.abs(ours.z.to_numpy() - theirs.Zs).max()
    dp = np.abs(ours.p.to_numpy() - 2 * theirs.p_norm).max()
    total = ours_s + weights_s
    print(
        f"largest |z| difference {dz:.1e}, |p| difference {dp:.1e}; "
        f"bar: Gi* for 10,000 cells under 1 s (weights included: {total:.3f} s) -> "
        f"{'met' if total < 1 else 'NOT met'}"
    )


def bench_emerging(cells: np.ndarray, n_slices: int = 52) -> None:
    rng = np.random.default_rng(1)
    cube = rng.poisson(3, (n_slices, cells.size)).astype(float)
    growing = np.isin(cells, list(h3.grid_disk(int(cells[len(cells) // 3]), 2)))
    fading = np.isin(cells, list(h3.grid_disk(int(cells[2 * len(cells) // 3]), 2)))
    cube[:, growing] += np.linspace(2, 12, n_slices)[:, None]
    cube[:, fading] += np.linspace(12, 2, n_slices)[:, None]
    w = h3_weights(cells)
    result, cube_s = best_of(3, emerging_hotspots, cube, w)
    print(
        f"emerging hotspots, {n_slices} weekly slices x {cells.size:,} cells: {cube_s:.2f} s "
        f"(bar: under 30 s -> {'met' if cube_s < 30 else 'NOT met'})"
    )
    counts = result.category.value_counts().to_dict()
    print(f"categories: {counts}")
    print(
        "planted growing cluster: "
        f"{result.category[growing].value_counts().to_dict()}; fading cluster: "
        f"{result.category[fading].value_counts().to_dict()}"
    )


def main(n_cells: int = 10_000) -> None:
    cells = study_area(n_cells)
    bench_gi_star(cells)
    bench_emerging(cells)


if __name__ == "__main__":
    main()
