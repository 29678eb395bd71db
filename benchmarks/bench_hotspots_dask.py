"""Gi* and emerging hot spots of a province-size field: in process against a LocalCluster
of 1 and 2 Dask workers (one thread each), with the parts of :mod:`gis.hotspots_dask`.

The field: ~1 M H3 r9 cells (a disk around Suzhou, ~105,000 km²), grouped into "streets"
(their r5 parents, ~420 of them); weekly case counts drawn from a Poisson law whose rate is
a function of the cell and the week only (a hash), higher on hot patches (r7 parents)
that grow or fade over the weeks and ignore street and part boundaries. Every part
"reads" its counts by drawing them for its cells, as the province's PostGIS would return
them: the benchmark measures the computation, not database reads.

Prints, per run: wall time, the ratio to the in-process time, peak memory (RSS) of the
process or of each worker, and checks that every result is equal to the in-process one.
On a 2-core machine shared with other work, Dask cannot be faster than one process: the
figures say what the split costs and how memory per worker falls with more workers.

Run: ``flock /tmp/gridgov-bench.lock uv run python benchmarks/bench_hotspots_dask.py
[--cells 1000000] [--weeks 8] [--workers 1,2]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path

import h3.api.basic_int as h3
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.emerging import emerging_hotspots
from gis.hotspots import gi_star, global_moments, h3_weights
from gis.hotspots_dask import emerging_in_parts, gi_star_in_parts, h3_parent

CENTRE = h3.latlng_to_cell(31.31, 120.63, 9)
PARTS_PER_WORKER = 4


def study_area(n_cells: int) -> np.ndarray:
    """About ``n_cells`` r9 cells: the disk around ``CENTRE`` that holds them (sorted)."""
    k = 1
    while 3 * k * (k + 1) + 1 < n_cells:
        k += 1
    return np.sort(np.array(h3.grid_disk(CENTRE, k), dtype=np.int64))


def _uniform(keys: np.ndarray, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per key (splitmix64 of key and salt): the same for a
    cell whichever part draws it."""
    with np.errstate(over="ignore"):
        x = keys.astype(np.uint64) ^ np.uint64(salt * 0x9E3779B97F4A7C15 % 2**64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(float) / 2.0**53


def weekly_counts(cells: np.ndarray, *, weeks: int) -> pd.DataFrame:
    """Synthetic counts (slice, cell, n) of ``cells``, non-zero rows only."""
    cells = np.asarray(cells, dtype=np.int64)
    patch = h3_parent(cells, 7)
    kind = _uniform(patch, 1)  # 3 % of patches grow, 3 % fade, the rest is background
    frames = []
    for t in range(weeks):
        rate = np.full(cells.size, 0.3)
        rate[kind < 0.03] += 0.5 + 2.0 * t / max(weeks - 1, 1)
        rate[(kind >= 0.03) & (kind < 0.06)] += 2.5 - 2.0 * t / max(weeks - 1, 1)
        u = _uniform(cells, 100 + t)
        n = np.zeros(cells.size, dtype=np.int64)
        term = np.exp(-rate)
        cdf = term.copy()
        for k in range(1, 30):  # inverse-CDF Poisson draw, vectorised over cells
            n += u >= cdf
            term = term * rate / k
            cdf = cdf + term
        keep = n > 0
        frames.append(pd.DataFrame({"slice": t, "cell": cells[keep], "n": n[keep]}))
    return pd.concat(frames, ignore_index=True)


def total_counts(cells: np.ndarray, *, weeks: int) -> pd.DataFrame:
    """The Gi* input: the weekly counts summed over the weeks (cell, n)."""
    return weekly_counts(cells, weeks=weeks).groupby("cell", as_index=False)["n"].sum()


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM, MB). Not ``ru_maxrss``, which Linux
    carries over fork and exec: a spawned Dask worker would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def in_process(
    study: np.ndarray, weeks: int
) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    """Each command as the single-process path runs it: counts, weights, statistics."""
    times = {}
    started = time.perf_counter()
    totals = total_counts(study, weeks=weeks)
    x = totals.set_index("cell").n.reindex(study, fill_value=0).to_numpy()
    gi = gi_star(x, h3_weights(study))
    times["gi"] = time.perf_counter() - started
    started = time.perf_counter()
    counts = weekly_counts(study, weeks=weeks)
    cube = np.zeros((weeks, study.size))
    cube[counts.slice.to_numpy(), np.searchsorted(study, counts.cell.to_numpy())] = counts.n
    em = emerging_hotspots(cube, h3_weights(study)).assign(cell=study)
    times["emerging"] = time.perf_counter() - started
    return times, gi, em


def on_cluster(study: np.ndarray, weeks: int, n_workers: int) -> tuple[dict[str, float], ...]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            memory_limit="6GB",
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: __import__("gis.hotspots_dask"))  # warm the workers' imports
        parts = PARTS_PER_WORKER * n_workers
        times = {}
        started = time.perf_counter()
        totals = total_counts(study, weeks=weeks)  # the command's global aggregate
        x = totals.set_index("cell").n.reindex(study, fill_value=0).to_numpy()
        load_totals = partial(total_counts, weeks=weeks)
        gi = gi_star_in_parts(client, study, load_totals, global_moments(x), parts)
        times["gi"] = time.perf_counter() - started
        started = time.perf_counter()
        moments_cube = _cube_moments(weekly_counts(study, weeks=weeks), weeks * study.size)
        load_weekly = partial(weekly_counts, weeks=weeks)
        em = emerging_in_parts(client, study, load_weekly, moments_cube, parts, n_slices=weeks)
        times["emerging"] = time.perf_counter() - started
        peaks = client.run(peak_rss_mb)
    return times, gi, em, peaks  # type: ignore[return-value]


def _cube_moments(weekly: pd.DataFrame, n: int):  # type: ignore[no-untyped-def]
    from gis.hotspots import moments_from_sums

    values = weekly.n.to_numpy(np.int64)
    return moments_from_sums(int(values.sum()), int((values * values).sum()), n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    study = study_area(args.cells)
    streets = np.unique(h3_parent(study, 5)).size
    print(
        f"{study.size:,} H3 r9 cells in {streets} streets (r5 parents), {args.weeks} weeks; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    times, gi, em = in_process(study, args.weeks)
    print(
        f"in process: Gi* {times['gi']:.1f} s, emerging {times['emerging']:.1f} s (each: "
        f"counts, weights, statistics); peak RSS {peak_rss_mb():,.0f} MB; "
        f"{int((gi.bin > 0).sum()):,} hot cells, "
        f"{int((em.category != 'no pattern').sum()):,} cells with a pattern"
    )
    for n_workers in (int(w) for w in args.workers.split(",")):
        t, got_gi, got_em, peaks = on_cluster(study, args.weeks, n_workers)
        np.testing.assert_array_equal(got_gi.z, gi.z)
        np.testing.assert_array_equal(got_gi.bin, gi.bin)
        pd.testing.assert_frame_equal(got_em, em, check_exact=True)
        print(
            f"{n_workers} worker(s), {PARTS_PER_WORKER * n_workers} parts: "
            f"Gi* {t['gi']:.1f} s ({t['gi'] / times['gi']:.2f}× in process), "
            f"emerging {t['emerging']:.1f} s ({t['emerging'] / times['emerging']:.2f}×); "
            f"peak RSS per worker {', '.join(f'{v:,.0f}' for v in peaks.values())} MB; "
            f"results equal; load average {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
