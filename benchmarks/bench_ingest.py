"""Benchmark: load 1,000,000 synthetic 311-style cases with community, grid and H3 assignment.

End to end = read the file, validate, assign street/community/grid and H3
r7–r10, COPY into staging, insert into ``cases`` (all its indexes and foreign
keys) with one ``case_events`` row each, committed per batch with the account.
Baseline, measured in the same run on a subset: ``geopandas.read_file`` +
``sjoin`` (grids, communities) + ``GeoDataFrame.to_postgis`` into ``cases``
(events not even written). Runs in a scratch database holding a small demo street.

    uv run python benchmarks/bench_ingest.py [--rows 1000000] [--baseline-rows 50000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.assign import h3_cells
from layers import migrate
from layers.ingest import load_cases, mapping_from_dict
from tests.conftest import recreate_database

DB = "gridgov_bench_ingest"
CATEGORIES = ["E0102", "E0104", "E0107", "E0201", "E0202", "E0504", "P0208", "P0303"]


def scratch_database() -> sa.Engine:
    """A fresh database with a small demo street (the served area)."""
    from gis.demo import generate_district
    from layers.catalogue import read_categories
    from layers.demo import load_demo

    engine = recreate_database(DB)
    migrate.upgrade(engine)
    district = generate_district(
        read_categories(),
        seed=7,
        households=8_000,
        n_communities=4,
        n_parts=20,
        n_cases=200,
        as_of=pd.Timestamp("2026-11-20 18:00", tz="Asia/Shanghai"),
    )
    with engine.begin() as conn:
        load_demo(conn, district)
    return engine


def synthetic_rows(engine: sa.Engine, n: int, seed: int = 5) -> pd.DataFrame:
    """``n`` Open311-style rows inside the street (0.5 % with 0,0, 0.5 % unknown category)."""
    with engine.connect() as conn:
        wkb = conn.execute(sa.text("SELECT ST_AsBinary(geom) FROM streets")).scalar_one()
    street = shapely.from_wkb(bytes(wkb))
    shapely.prepare(street)
    x0, y0, x1, y1 = street.bounds
    rng = np.random.default_rng(seed)
    lon, lat = np.empty(0), np.empty(0)
    while len(lon) < n:
        x, y = rng.uniform(x0, x1, 2 * n), rng.uniform(y0, y1, 2 * n)
        keep = shapely.contains_xy(street, x, y)
        lon, lat = np.concatenate([lon, x[keep]]), np.concatenate([lat, y[keep]])
    lon, lat = np.round(lon[:n], 6), np.round(lat[:n], 6)
    opened = pd.Timestamp("2025-01-01", tz="Asia/Shanghai") + pd.to_timedelta(
        rng.integers(0, 365 * 86400, n), unit="s"
    )
    closed = opened + pd.to_timedelta(rng.integers(600, 20 * 86400, n), unit="s")
    category = rng.choice(CATEGORIES, n).astype(object)
    category[rng.random(n) < 0.005] = "Pothole on Mars"
    zero = rng.random(n) < 0.005
    lon[zero], lat[zero] = 0.0, 0.0
    return pd.DataFrame(
        {
            "service_request_id": np.arange(n).astype(str),
            "requested_datetime": opened,
            "updated_datetime": closed,
            "status": np.where(rng.random(n) < 0.1, "open", "closed"),
            "service_code": category,
            "description": "synthetic request",
            "lat": lat,
            "long": lon,
        }
    )


MAPPING = {
    "layer": "cases",
    "source": "bench311",
    "timezone": "Asia/Shanghai",
    "columns": {
        "source_id": "service_request_id",
        "lon": "long",
        "lat": "lat",
        "category": "service_code",
        "reported_at": "requested_datetime",
        "closed_at": "updated_datetime",
        "status": "status",
        "description": "description",
    },
    "statuses": {"open": "dispatched", "closed": "closed"},
    "categories": {c: c for c in CATEGORIES},
}


def baseline(engine: sa.Engine, rows: pd.DataFrame, workdir: Path) -> float:
    """read_file + sjoin + to_postgis on ``rows``; return rows/s."""
    path = workdir / "baseline.geojson"
    gpd.GeoDataFrame(
        rows.assign(
            requested_datetime=rows.requested_datetime.astype(str),
            updated_datetime=rows.updated_datetime.astype(str),
        ),
        geometry=gpd.points_from_xy(rows["long"], rows["lat"]),
        crs=4326,
    ).to_file(path, driver="GeoJSON")
    with engine.connect() as conn:
        grids = gpd.read_postgis(
            "SELECT id AS grid_id, community_id, geom FROM grids_current", conn, geom_col="geom"
        )
        categories = dict(conn.execute(sa.text("SELECT service_code, id FROM categories")).all())
        street = conn.execute(sa.text("SELECT code FROM streets")).scalar_one()
    start = time.perf_counter()
    gdf = gpd.read_file(path)
    gdf = gdf[(gdf["lat"] != 0) & gdf.service_code.isin(list(categories))]
    gdf = gpd.sjoin(gdf, grids, how="inner", predicate="intersects")
    gdf = gdf[~gdf.index.duplicated()]
    out = gpd.GeoDataFrame(
        {
            "case_no": "BASE-" + gdf.service_request_id,
            "category_id": gdf.service_code.map(categories),
            "street_code": street,
            "community_id": gdf.community_id,
            "grid_id": gdf.grid_id,
            **{
                f"h3_r{r}": h3_cells(gdf["long"].to_numpy(), gdf["lat"].to_numpy(), r)
                for r in (7, 8, 9, 10)
            },
            "source": "import",
            "status": np.where(gdf.status == "open", "dispatched", "closed"),
            "reported_at": pd.to_datetime(gdf.requested_datetime, format="ISO8601", utc=True),
            "source_system": "baseline",
            "source_id": gdf.service_request_id,
        },
        geometry=gdf.geometry.rename("geom").to_numpy(),
        crs=4326,
    ).rename_geometry("geom")
    out.to_postgis("cases", engine, if_exists="append", index=False, chunksize=10_000)
    seconds = time.perf_counter() - start
    return len(rows) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=50_000)
    parser.add_argument("--batch-rows", type=int, default=250_000)
    args = parser.parse_args()

    engine = scratch_database()
    rows = synthetic_rows(engine, args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path = workdir / "cases.parquet"
        rows.to_parquet(path, index=False)
        size = path.stat().st_size / 1e6
        print(f"{args.rows:,} synthetic 311 rows in {path.name} ({size:.0f} MB, Parquet)")
        with engine.connect() as conn:
            start = time.perf_counter()
            account = load_cases(
                path, mapping_from_dict(MAPPING), conn=conn, batch_rows=args.batch_rows
            )
            seconds = time.perf_counter() - start
        fast = args.rows / seconds
        print(account.summary())
        print(
            f"gridgov load (end to end, incl. H3 r7-r10, grid/community, case_events): "
            f"{seconds:.1f} s = {fast:,.0f} rows/s"
        )
        subset = rows.iloc[: args.baseline_rows]
        slow = baseline(engine, subset, workdir)
        print(
            f"baseline read_file + sjoin + to_postgis on a subset of {len(subset):,} rows: "
            f"{slow:,.0f} rows/s"
        )
    print(f"ratio: {fast / slow:.1f}x (bar: >= 10x, and >= 150,000 rows/s end to end)")
    engine.dispose()


if __name__ == "__main__":
    main()
