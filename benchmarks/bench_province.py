"""Patrol coverage of a synthetic province on Dask: time against fixes and workers.

The province: ``STREETS`` streets of 2 km x 2 km side by side (10 per row), each cut into
25 grids of 400 m, four grid workers per grid (100 streets: 2,500 grids, 10,000 workers).
Each worker walks its grid for an 8-hour shift on ``DAYS`` days with a GPS fix every 10 s
(1.2 m/s, a persistent random heading, folded back at the grid's edge): 1.15 M fixes per
street, 115 M for the province. The fixes are GeoParquet, one file per street (a file holds
all fixes of its workers), generated street by street with numpy under
``/var/tmp/gridgov-province`` and reused when present.

Measured in one run: the single-process path (``grid_coverage`` + ``time_in_grids`` on all
fixes, in a child process) on the smallest size, as the baseline; then the Dask path
(``gis.coverage_dask.parquet_coverage``) on a LocalCluster of 1 and 2 worker processes
(one thread each) for each size; wall time, fixes per second, the peak resident memory of
each Dask worker, the load average before each run, and an extrapolation to 10 B fixes a
year and to N machines that prints its assumptions. The Dask result is checked against
the baseline on the smallest size.

Run (the machine is shared: one benchmark at a time):
``flock /tmp/gridgov-bench.lock uv run python benchmarks/bench_province.py``
(``--sizes 1,9,26,100`` streets; ``--workers 1,2``; ``--skip-baseline``).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from city import time_zone
from gis.coverage_parts import coverage_lattice
from gis.crs import WGS84, to_wgs84

ROOT = Path(os.environ.get("GRIDGOV_PROVINCE_DIR", "/var/tmp/gridgov-province"))
TZ = time_zone().key  # the city profile's zone (data/city.toml)
UTM51 = 32651
X0, Y0 = 280_000.0, 3_440_000.0  # south-west corner, near Suzhou
STREET_M, GRID_M, PER_ROW = 2_000.0, 400.0, 10
WORKERS_PER_GRID, DAYS, FIX_S, SHIFT_H, SPEED = 4, 4, 10, 8, 1.2
FIRST_DAY = pd.Timestamp("2026-11-16", tz=TZ)  # a Monday
YEAR_FIXES = 10e9


def grids_per_street() -> int:
    return int(STREET_M // GRID_M) ** 2


def province_grids(n_streets: int) -> gpd.GeoDataFrame:
    """The grids of the first ``n_streets`` streets (ids 1…), EPSG:4326."""
    k = int(STREET_M // GRID_M)
    boxes = []
    for s in range(n_streets):
        sx, sy = X0 + (s % PER_ROW) * STREET_M, Y0 + (s // PER_ROW) * STREET_M
        for g in range(k * k):
            gx, gy = sx + (g % k) * GRID_M, sy + (g // k) * GRID_M
            boxes.append(shapely.box(gx, gy, gx + GRID_M, gy + GRID_M))
    grids = gpd.GeoDataFrame({"id": np.arange(1, len(boxes) + 1)}, geometry=boxes, crs=UTM51)
    return grids.to_crs(WGS84)


def street_fixes(street: int, seed: int = 19) -> gpd.GeoDataFrame:
    """All fixes of one street's workers over the ``DAYS`` days (numpy, ~1.15 M rows)."""
    rng = np.random.default_rng([seed, street])
    k = int(STREET_M // GRID_M)
    n_workers = grids_per_street() * WORKERS_PER_GRID
    per_day = SHIFT_H * 3600 // FIX_S
    steps = DAYS * per_day
    grid = np.arange(n_workers) // WORKERS_PER_GRID
    sx, sy = X0 + (street % PER_ROW) * STREET_M, Y0 + (street // PER_ROW) * STREET_M
    gx, gy = sx + (grid % k) * GRID_M, sy + (grid // k) * GRID_M
    heading = np.cumsum(rng.normal(0, 0.35, (n_workers, steps)), axis=1)
    heading += rng.uniform(0, 2 * np.pi, (n_workers, 1))
    step = SPEED * FIX_S
    x = rng.uniform(0, GRID_M, (n_workers, 1)) + np.cumsum(step * np.cos(heading), axis=1)
    y = rng.uniform(0, GRID_M, (n_workers, 1)) + np.cumsum(step * np.sin(heading), axis=1)
    x, y = _fold(x, GRID_M) + gx[:, None], _fold(y, GRID_M) + gy[:, None]
    lon, lat = to_wgs84(x.ravel(), y.ravel(), UTM51)
    day = np.arange(steps) // per_day
    offset_s = day * 86_400 + 8 * 3600 + (np.arange(steps) % per_day) * FIX_S
    at_ns = np.tile(FIRST_DAY.value + offset_s.astype(np.int64) * 10**9, n_workers)
    worker = np.repeat(street * n_workers + np.arange(n_workers) + 1, steps).astype(np.int32)
    return gpd.GeoDataFrame(
        {"worker_id": worker, "at": pd.to_datetime(at_ns, utc=True)},
        geometry=shapely.points(lon, lat),
        crs=WGS84,
    )


def _fold(v: np.ndarray, size: float) -> np.ndarray:
    """Fold a walk back into [0, size] (reflect at the edges)."""
    m = np.mod(v, 2 * size)
    return np.where(m > size, 2 * size - m, m)


def ensure_province(n_streets: int) -> list[Path]:
    """The street files (generated if missing), one GeoParquet per street."""
    folder = ROOT / f"fixes-d{DAYS}-w{WORKERS_PER_GRID}"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for street in range(n_streets):
        path = folder / f"street_{street:03d}.parquet"
        if not path.exists():
            started = time.perf_counter()
            street_fixes(street).to_parquet(path.with_suffix(".tmp"), row_group_size=250_000)
            path.with_suffix(".tmp").rename(path)
            print(f"  wrote {path.name} in {time.perf_counter() - started:.1f} s", flush=True)
        files.append(path)
    return files


def fixes_per_street() -> int:
    return grids_per_street() * WORKERS_PER_GRID * DAYS * (SHIFT_H * 3600 // FIX_S)


def window() -> tuple[pd.Timestamp, pd.Timestamp]:
    return FIRST_DAY, FIRST_DAY + pd.Timedelta(days=7)


def single_process(files: list[str], n_streets: int) -> tuple[float, float, pd.DataFrame]:
    """Today's path in this process: (seconds, peak RSS in GB, coverage + hours)."""
    from gis.coverage import grid_coverage, time_in_grids
    from gis.coverage_parts import tracks_from_fixes

    started = time.perf_counter()
    grids = province_grids(n_streets)
    frame = pd.concat([gpd.read_parquet(f) for f in files], ignore_index=True)
    points = frame.geometry.to_numpy()
    fixes = pd.DataFrame(
        {
            "worker_id": frame.worker_id.to_numpy(),
            "at": frame["at"],
            "lon": shapely.get_x(points),
            "lat": shapely.get_y(points),
        }
    )
    del frame, points
    coverage = grid_coverage(grids, tracks_from_fixes(fixes, TZ))
    coverage["hours"] = time_in_grids(grids, fixes).to_numpy()
    seconds = time.perf_counter() - started
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, coverage


def on_dask(
    files: list[str], n_streets: int, n_workers: int
) -> tuple[float, list[float], pd.DataFrame]:
    """The Dask path on a fresh LocalCluster: (seconds, peak RSS per worker in GB, result)."""
    from distributed import Client, LocalCluster

    from gis.coverage_dask import parquet_coverage

    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            memory_limit="9GB",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        started = time.perf_counter()
        lattice = coverage_lattice(province_grids(n_streets))
        start, end = window()
        coverage, hours = parquet_coverage(client, lattice, files, start=start, end=end, tz=TZ)
        seconds = time.perf_counter() - started
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    coverage["hours"] = hours.to_numpy()
    return seconds, sorted(peaks.values()), coverage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,9,26,100", help="streets per run (1.15 M fixes each)")
    parser.add_argument("--workers", default="2,1")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    print(f"machine: {os.cpu_count()} cores; load average before: {os.getloadavg()}")
    print(f"data: {ROOT} ({fixes_per_street():,} fixes per street)", flush=True)
    files = ensure_province(max(sizes))
    rows = []
    baseline = None
    smallest = min(sizes)
    if not args.skip_baseline:
        load = os.getloadavg()[0]
        chosen = [str(f) for f in files[:smallest]]
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            seconds, peak, baseline = pool.submit(single_process, chosen, smallest).result()
        n = smallest * fixes_per_street()
        rows.append(("single process (today)", n, 1, seconds, [peak], load))
        print(f"baseline {n:,} fixes: {seconds:.1f} s, peak {peak:.2f} GB", flush=True)
    for size in sizes:
        for n_workers in workers:
            load = os.getloadavg()[0]
            chosen = [str(f) for f in files[:size]]
            seconds, peaks, result = on_dask(chosen, size, n_workers)
            n = size * fixes_per_street()
            rows.append(("dask LocalCluster", n, n_workers, seconds, peaks, load))
            print(f"dask {n:,} fixes on {n_workers}: {seconds:.1f} s, peaks {peaks}", flush=True)
            if baseline is not None and size == smallest:
                _check(baseline, result)
    _table(rows)
    _extrapolate(rows)


def _check(baseline: pd.DataFrame, result: pd.DataFrame) -> None:
    same_share = np.array_equal(baseline.covered_share.to_numpy(), result.covered_share.to_numpy())
    walked = np.max(np.abs(baseline.walked_m.to_numpy() - result.walked_m.to_numpy()))
    hours = np.max(np.abs(baseline.hours.to_numpy() - result.hours.to_numpy()))
    print(
        f"  check against the single process: covered_share identical={same_share}, "
        f"max |Δ walked_m|={walked:.2e} m, max |Δ hours|={hours:.2e} h"
    )
    assert same_share and walked < 1e-6 and hours < 1e-9


def _table(rows) -> None:  # type: ignore[no-untyped-def]
    base = next((r for r in rows if r[0].startswith("single")), None)
    print()
    print(
        "| path | fixes | workers | time (s) | fixes/s | peak RSS per worker (GB) "
        "| vs baseline | load avg |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for path, n, w, s, peaks, load in rows:
        ratio = ""
        if base is not None and n == base[1] and not path.startswith("single"):
            ratio = f"{base[3] / s:.2f}x faster" if s < base[3] else f"{s / base[3]:.2f}x slower"
        peaks_s = ", ".join(f"{p:.2f}" for p in peaks)
        print(
            f"| {path} | {n / 1e6:.1f} M | {w} | {s:.1f} | {n / s / 1e3:.0f} k | {peaks_s} "
            f"| {ratio} | {load:.2f} |"
        )


def _extrapolate(rows) -> None:  # type: ignore[no-untyped-def]
    """Print the extrapolation to 10 B fixes a year and N machines, with its assumptions."""
    dask_rows = [r for r in rows if r[0].startswith("dask")]
    if not dask_rows:
        return
    # the per-process rate: the largest run with the most workers
    largest = max(r[1] for r in dask_rows)
    best = max((r for r in dask_rows if r[1] == largest), key=lambda r: r[2])
    rate = best[1] / best[3] / best[2]  # fixes per second per worker process
    pairs = {}
    for size in sorted({r[1] for r in dask_rows}):
        times = {r[2]: r[3] for r in dask_rows if r[1] == size}
        if 1 in times and 2 in times:
            pairs[size] = times[1] / times[2] / 2
    week_fixes = YEAR_FIXES / 52
    load = np.mean([r[5] for r in dask_rows])
    print()
    print(
        f"Extrapolation from the {largest / 1e6:.1f} M run on {best[2]} worker process(es): "
        f"{rate / 1e3:.0f} k fixes/s per worker process (mean load average {load:.1f} on "
        f"{os.cpu_count()} cores during the runs)."
    )
    for size, eff in pairs.items():
        print(
            f"  measured 1 -> 2 workers on this machine at {size / 1e6:.1f} M: efficiency {eff:.2f}"
        )
    print(
        "Assumes: coverage is computed a week at a time (10 B fixes/year = "
        f"{week_fixes / 1e6:.0f} M a week); parts (files of whole workers) share nothing, so "
        "time is fixes / (rate x worker processes): linear in machines, because each machine "
        "brings its own cores (the 1 -> 2 figure above is two processes sharing this machine's "
        "2 cores, and the client, with whatever else runs here: not a limit of the method); "
        "machines like this one (2 cores, 2 worker processes) at the rate measured here (a "
        "busy machine is slower); the lattice broadcast, the join on the client (O(grids) per "
        "part) and the write of grid_coverage rows are left out (they grow with grids, not "
        "fixes); the fixes are local GeoParquet (network storage adds its read time); peak "
        "memory per worker is that of one part (one street file) plus the parts' results it "
        "keeps until the client gathers them: it grows with the parts per worker (see the "
        "table), so a larger run wants more parts gathered as they finish or more workers."
    )
    print("| machines (2 worker processes each) | one week (192 M fixes) | 10 B fixes at once |")
    print("|---:|---:|---:|")
    for machines in (1, 4, 16, 64):
        per_s = rate * 2 * machines
        week_min, year_h = week_fixes / per_s / 60, YEAR_FIXES / per_s / 3600
        print(f"| {machines} | {week_min:.1f} min | {year_h:.1f} h |")


if __name__ == "__main__":
    main()
