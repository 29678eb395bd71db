"""Gi* on 10,000 H3 cells against PySAL esda's G_Local; emerging hotspots on 52 × 10,000.

Both get the same binary H3 contiguity (self included) and the same values; the run
prints both timings, the ratio, and the largest z-score difference.
Run: ``uv run python benchmarks/bench_hotspots.py``.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import h3.api.basic_int as h3
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.emerging import emerging_hotspots
from gis.hotspots import gi_star, h3_weights


def main(n_target: int = 10_000) -> None:
    centre = h3.latlng_to_cell(31.31, 120.63, 9)
    k = 1
    while 3 * k * (k + 1) + 1 < n_target:
        k += 1
    cells = np.array(sorted(h3.grid_disk(centre, k)), dtype=np.int64)[:n_target]
    values = np.random.default_rng(0).poisson(3, cells.size).astype(float)

    started = time.perf_counter()
    w = h3_weights(cells)
    weights_s = time.perf_counter() - started
    started = time.perf_counter()
    ours = gi_star(values, w)
    ours_s = time.perf_counter() - started

    from libpysal.weights import WSP

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from esda.getisord import G_Local

        off = w.copy()
        off.setdiag(0)
        off.eliminate_zeros()
        wobj = WSP(off.tocsr()).to_W(silence_warnings=True)
        started = time.perf_counter()
        theirs = G_Local(values, wobj, transform="B", star=True, permutations=0)
        esda_s = time.perf_counter() - started
    print(f"cells: {cells.size:,}; weights built in {weights_s:.2f} s (H3 rings)")
    print(
        f"GridGov gi_star: {ours_s * 1000:.1f} ms; esda G_Local(star, no permutations): "
        f"{esda_s * 1000:.1f} ms; ratio {esda_s / ours_s:.1f}x"
    )
    print(
        f"largest |z| difference: {np.abs(ours.z.to_numpy() - theirs.Zs).max():.2e}; "
        f"bar: Gi* for 10,000 cells under 1 s -> {'met' if ours_s < 1 else 'NOT met'}"
    )

    cube = np.random.default_rng(1).poisson(3, (52, cells.size)).astype(float)
    started = time.perf_counter()
    result = emerging_hotspots(cube, w)
    cube_s = time.perf_counter() - started
    print(
        f"emerging hotspots, 52 weekly slices x {cells.size:,} cells: {cube_s:.2f} s "
        f"(bar: under 30 s -> {'met' if cube_s < 30 else 'NOT met'}); categories: "
        f"{result.category.value_counts().to_dict()}"
    )


if __name__ == "__main__":
    main()
