"""The daily case rollup on Dask against the single statement, same database, same run.

Times, each in its own transaction that is rolled back (the database is left as it was):

- baseline: ``layers.rollups.refresh_rollups`` (one ``INSERT … SELECT … GROUP BY`` over
  every month partition of ``cases``, then ``case_daily_major`` and the measures);
- ``layers.rollups_dask.refresh_rollups_on_dask`` on a LocalCluster of ``--workers``
  single-threaded worker processes: each month partition counted by a task on its own
  connection, in the command's snapshot; the rest as the baseline.

The ``case_daily`` rows of both are compared. On one machine the workers and PostgreSQL
share the same cores: the point of the Dask path is a cluster whose workers read from
replicas, which this run cannot show; it shows what the parts cost against one statement.

Run: ``flock /tmp/gridgov-bench.lock uv run python benchmarks/bench_rollups_dask.py
[--database gridgov_bench_tiles] [--workers 2]`` (a database with cases, e.g. the one
``bench_operator_map.py`` builds).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from layers.db import database_url
from layers.rollups import DAILY_KEYS, refresh_rollups
from layers.rollups_dask import refresh_rollups_on_dask

ORDER = ", ".join(DAILY_KEYS)


def _timed(engine: sa.Engine, scheduler: str | None, *, dask: bool) -> tuple[float, pd.DataFrame]:
    with engine.connect() as conn, conn.begin() as tx:
        started = time.perf_counter()
        if dask:
            refresh_rollups_on_dask(conn=conn, scheduler=scheduler)
        else:
            refresh_rollups(conn=conn)
        seconds = time.perf_counter() - started
        rows = pd.read_sql(sa.text(f"SELECT {ORDER}, n FROM case_daily ORDER BY {ORDER}"), conn)
        tx.rollback()
    return seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="gridgov_bench_tiles")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    engine = sa.create_engine(database_url(database=args.database))
    with engine.connect() as conn:
        cases = conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
        months = conn.execute(
            sa.text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'cases'::regclass")
        ).scalar_one()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"{args.database}: {cases:,} cases in {months} partitions")
    with (
        LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True) as cluster,
        Client(cluster) as client,
    ):
        client.run(__import__, "layers.rollups_dask")  # the workers' first import: not timed
        _timed(engine, None, dask=False)  # both read the same warm pages from here on
        base_s, base_rows = _timed(engine, None, dask=False)
        dask_s, dask_rows = _timed(engine, cluster.scheduler_address, dask=True)
        second_s, _ = _timed(engine, None, dask=False)
    same = base_rows.astype(object).equals(dask_rows.astype(object))
    print(f"single statement: {base_s:.2f} s, again after the Dask run {second_s:.2f} s")
    print(f"Dask, {args.workers} worker processes: {dask_s:.2f} s")
    baseline = min(base_s, second_s)
    print(
        f"Dask / single statement: {dask_s / baseline:.2f}x; case_daily rows {len(dask_rows):,}, "
        f"identical: {same}; load average at the end {os.getloadavg()[0]:.2f}"
    )
    engine.dispose()
    if not same:
        raise SystemExit("the Dask rollup differs from the single statement")


if __name__ == "__main__":
    main()
