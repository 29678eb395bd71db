"""Delineation and bulk point assignment: one process against a LocalCluster of Dask workers.

The two jobs ``--scheduler`` sends to Dask (``gridgov grids delineate``: one community per
task; ``gridgov load``: the street / community / grid of each point in chunks of rows), each
timed in this process (the default path) and on a ``distributed.LocalCluster`` of
``--workers`` single-threaded worker processes, on

- the demo district (``gis.demo.generate_district`` as ``gridgov demo`` makes it: 50,000
  households in 10 communities; 110,000 case points spread over the street), and
- a larger synthetic input (``bench_delineate_city.make_city``: ``--buildings`` buildings
  in 60 communities; ``--points`` points over the demo street's grids).

Only the computation is timed (what moves to the workers; the commands' reads and writes in
PostGIS are the same either way). Each Dask run's result is checked equal to the in-process
one (grids byte for byte; assignment arrays equal). The ratio is Dask time / in-process time:
below 1 Dask is faster. The load average is printed before and after: on a 2-core machine
shared with other work, 2 Dask workers compete with everything else.

Run: ``flock /tmp/gridgov-bench.lock uv run python benchmarks/bench_dask_parts.py``
(``--buildings 100000 --points 2000000 --workers 2``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_delineate_city import make_city

from gis.dask_parts import DaskMapper
from gis.delineate import delineate
from layers.ingest.assignment import LocateInParts, ServedArea, locate

WGS84 = "EPSG:4326"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def demo_inputs(seed: int = 42):  # type: ignore[no-untyped-def]
    """The demo district's buildings, communities, major roads and served area (WGS 84)."""
    from gis.demo import generate_district
    from layers.catalogue import read_categories

    d = generate_district(read_categories(), seed=seed, n_cases=1_000, n_parts=100)
    buildings = gpd.GeoDataFrame(
        {"households": d.buildings.households.to_numpy()},
        geometry=shapely.points(d.buildings.lon, d.buildings.lat),
        crs=WGS84,
    )
    communities = gpd.GeoDataFrame(
        {"code": d.communities.code.to_numpy()}, geometry=list(d.communities.geometry), crs=WGS84
    )
    major = d.roads[d.roads.road_class == "major"]
    barriers = gpd.GeoSeries(list(major.geometry), crs=WGS84)
    index = {code: i for i, code in enumerate(d.communities.code)}
    street = str(d.street.code.iloc[0])
    area = ServedArea(
        street_code=np.array([street], dtype=object),
        street_geom=np.asarray(list(d.street.geometry), dtype=object),
        community_id=np.arange(len(d.communities), dtype=np.int64),
        community_street=np.array([street] * len(d.communities), dtype=object),
        community_geom=np.asarray(list(d.communities.geometry), dtype=object),
        grid_id=np.arange(len(d.grids), dtype=np.int64),
        grid_community=np.array([index[c] for c in d.grids.community_code], dtype=np.int64),
        grid_geom=np.asarray(list(d.grids.geometry), dtype=object),
    )
    return buildings, communities, barriers, area


def points_over(area: ServedArea, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform over the street's bounding box widened by 10 % (some outside)."""
    x0, y0, x1, y1 = shapely.total_bounds(area.street_geom)
    dx, dy = (x1 - x0) * 0.05, (y1 - y0) * 0.05
    rng = np.random.default_rng(seed)
    return rng.uniform(x0 - dx, x1 + dx, n), rng.uniform(y0 - dy, y1 + dy, n)


def same_grids(a: Any, b: Any) -> bool:
    ga, gb = a.grids, b.grids
    cols = ["community", "part", "households", "n_buildings", "oversized"]
    return bool(
        ga[cols].equals(gb[cols])
        and (shapely.to_wkb(ga.geometry.to_numpy()) == shapely.to_wkb(gb.geometry.to_numpy())).all()
        and a.assignment.equals(b.assignment)
    )


def same_assignment(a: Any, b: Any) -> bool:
    (wa, na), (wb, nb) = a, b
    return bool(
        (wa.street_code == wb.street_code).all()
        and (wa.community_id == wb.community_id).all()
        and (wa.grid_id == wb.grid_id).all()
        and np.array_equal(na, nb, equal_nan=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    print(f"load average before: {_load()}  (cores: {os.cpu_count()})", flush=True)
    t_gen, (buildings, communities, barriers, area) = _timed(demo_inputs)
    city_b, city_c, city_r = make_city(args.buildings)
    print(f"inputs generated in {t_gen:.1f} s", flush=True)
    rows: list[tuple[str, float, float, bool]] = []
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        for module in ("gis.delineate", "layers.ingest.assignment"):
            client.run(importlib.import_module, module)
        mapper = DaskMapper(client)
        jobs: list[tuple[str, Callable[[], Any], Callable[[], Any], Callable[[Any, Any], bool]]]
        jobs = [
            (
                f"delineate demo ({len(buildings):,} buildings, {len(communities)} communities)",
                lambda: delineate(buildings, communities, barriers=barriers),
                lambda: delineate(buildings, communities, barriers=barriers, map_parts=mapper),
                same_grids,
            ),
            (
                f"delineate synthetic ({len(city_b):,} buildings, {len(city_c)} communities)",
                lambda: delineate(city_b, city_c, barriers=city_r),
                lambda: delineate(city_b, city_c, barriers=city_r, map_parts=mapper),
                same_grids,
            ),
        ]
        for n in (110_000, args.points):
            lon, lat = points_over(area, n)
            in_parts = LocateInParts(mapper, threads=mapper.threads)
            jobs.append(
                (
                    f"assign {n:,} points ({len(area.grid_id)} grids)",
                    lambda lon=lon, lat=lat: locate(area, lon, lat, 5.0),
                    lambda lon=lon, lat=lat, f=in_parts: f(area, lon, lat, 5.0),
                    same_assignment,
                )
            )
        for name, alone, on_dask, same in jobs:
            t_alone, expected = _timed(alone)
            t_dask, got = _timed(on_dask)
            rows.append((name, t_alone, t_dask, same(expected, got)))
            print(f"  {name}: {t_alone:.2f} s / {t_dask:.2f} s", flush=True)
    table = pd.DataFrame(rows, columns=["job", "in process (s)", "dask (s)", "same result"])
    table["dask / in process"] = table["dask (s)"] / table["in process (s)"]
    print()
    print(f"Dask: LocalCluster of {args.workers} worker processes × 1 thread")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"\nload average after: {_load()}")
    if not table["same result"].all():
        raise SystemExit("a Dask result differs from the in-process one")


if __name__ == "__main__":
    main()
