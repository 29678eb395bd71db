"""Patrol plans for every worker of the demo street, as `gridgov patrol plan` makes them.

Loads the default demo district (``gridgov demo`` settings) into its own database
``gridgov_bench_patrol`` (kept between runs; ``--reload`` to rebuild), then plans
next Monday's shift for every worker with a grid twice: on the walking network of
the ``roads`` layer (what the CLI does) and with straight line × 1.3 (no roads).
For each it prints the wall time, the total route length of OR-Tools' routes, and the
baseline — the *same* stops walked in nearest-neighbour order — and the saving.

Run: ``uv run python benchmarks/bench_patrol_demo.py [--seconds-per-worker 0.3]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.demo import generate_district
from layers import migrate
from layers.catalogue import read_categories
from layers.demo import load_demo
from layers.patrol_plans import plan_patrols
from tests.conftest import recreate_database, server_url

DB = "gridgov_bench_patrol"
PLAN_DATE = date(2026, 11, 23)


def demo_engine(reload: bool) -> sa.Engine:
    engine = sa.create_engine(server_url(DB))
    try:
        with engine.connect() as conn:
            n = conn.execute(sa.text("SELECT count(*) FROM grids_current")).scalar_one()
        if n and not reload:
            return engine
    except sa.exc.DBAPIError:
        pass
    engine.dispose()
    engine = recreate_database(DB)
    migrate.upgrade(engine)
    district = generate_district(read_categories())
    with engine.begin() as conn:
        load_demo(conn, district)
    return engine


def run(
    engine: sa.Engine, seconds: float, roads: bool
) -> tuple[float, float, float, int, int, int]:
    with engine.connect() as conn, conn.begin() as tx:
        if not roads:
            conn.execute(sa.text("DELETE FROM roads"))  # rolled back below
        t = time.perf_counter()
        plans = plan_patrols(conn=conn, plan_date=PLAN_DATE, time_limit_s=seconds)
        wall = time.perf_counter() - t
        tx.rollback()
    return (
        wall,
        float(plans.length_m.sum()),
        float(plans.baseline_m.sum()),
        len(plans),
        int(plans.stops.map(len).sum()),
        int(plans.greedy_order_used.sum()),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds-per-worker", type=float, default=0.3)
    parser.add_argument("--reload", action="store_true", help="Rebuild the demo database.")
    args = parser.parse_args()
    engine = demo_engine(args.reload)
    print(f"Patrol plans for the demo street, {args.seconds_per_worker} s of search per worker")
    for roads in (True, False):
        wall, ours, base, workers, stops, greedy = run(engine, args.seconds_per_worker, roads)
        label = "roads layer (as the CLI)" if roads else "straight line × 1.3"
        print(
            f"  {label:26s} {workers} workers, {stops:,} stops in {wall:5.1f} s: OR-Tools "
            f"{ours / 1000:7.1f} km, nearest neighbour (same stops) {base / 1000:7.1f} km, "
            f"{1 - ours / base:5.1%} shorter ({greedy} routes kept the greedy order)  "
            f"[bar < 60 s and >= 15 %: {'met' if wall < 60 and ours <= 0.85 * base else 'NOT met'}]"
        )
    engine.dispose()


if __name__ == "__main__":
    main()
