"""`gridgov analyse rollups --scheduler tcp://…` on a real multi-process Dask cluster
(`dask scheduler` + two `dask worker` processes): each month partition of cases counted by
a task, the rows written those of the single statement; an unreachable scheduler writes
nothing."""

from __future__ import annotations

import importlib
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from city import time_zone
from cli import app
from layers.bulk_months import leaves
from layers.coverage_dask import export_snapshot
from layers.rollup_queue import dirty_days, queue_days
from layers.rollups import DAILY_KEYS, refresh_rollups
from layers.rollups_dask import add_up, count_partition, refresh_rollups_on_dask

runner = CliRunner()
ROLLUPS: dict[str, str | None] = {
    "case_daily": ", ".join([*DAILY_KEYS, "n"]),
    "case_daily_major": "day, community_id, major_id, n",
    "case_measures_daily": None,  # every column but when it was refreshed
}


@pytest.fixture(scope="module", autouse=True)
def warm_workers(dask_cluster):  # type: ignore[no-untyped-def]
    """Import the parts' module on both workers once, so the tests time the work."""
    from distributed import Client

    with Client(dask_cluster, timeout=30) as client:
        client.run(importlib.import_module, "layers.rollups_dask")


def _rollups(conn: sa.Connection) -> dict[str, pd.DataFrame]:
    out = {}
    for table, columns in ROLLUPS.items():
        if columns is None:
            columns = ", ".join(
                conn.execute(
                    sa.text("SELECT column_name FROM information_schema.columns WHERE "
                            "table_name = :t AND column_name <> 'refreshed_at' "
                            "ORDER BY ordinal_position"),
                    {"t": table},
                ).scalars()
            )  # fmt: skip
        # in the order of the rows' text: every column decides, arrays too
        sql = f"SELECT * FROM (SELECT {columns} FROM {table}) t ORDER BY t::text"
        out[table] = pd.read_sql(sa.text(sql), conn)
    return out


def _single_process(engine: sa.Engine) -> dict[str, pd.DataFrame]:
    """The rollups as the single statement rebuilds them (rolled back afterwards)."""
    with engine.connect() as conn, conn.begin() as tx:
        refresh_rollups(conn=conn)
        rows = _rollups(conn)
        tx.rollback()
    return rows


def _assert_same(got: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    for table in ROLLUPS:
        pd.testing.assert_frame_equal(got[table], expected[table], check_exact=True)


def test_each_partition_is_counted_by_one_part(demo_engine):
    with demo_engine.connect() as conn, conn.begin():
        months = sorted(leaves(conn, "cases"))
        url, snapshot = export_snapshot(conn)
        shared = {"url": url, "snapshot": snapshot, "tz": time_zone().key}
        parts = [count_partition(m, shared) for m in months]
        total = conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
    assert len([p for p in parts if len(p)]) >= 2
    assert sum(int(p.n.sum()) for p in parts) == total
    with pytest.raises(ValueError, match="not a partition"):
        count_partition('cases"; DROP TABLE cases; --', shared)


def test_a_local_day_cut_by_a_month_boundary_is_counted_once():
    # the partitions are cut at UTC month starts, the days at local midnight: the first
    # local day of a month is in two parts, and so can one key (a NULL grid is a key too)
    day = date(2026, 3, 1)
    key = {"day": day, "street_code": "320505001", "community_id": 7, "grid_id": None,
           "h3_r9": 617733122422996991, "category_id": 3, "source": "hotline"}  # fmt: skip
    other = key | {"source": "patrol"}
    outside = key | {"h3_r9": None, "community_id": None}  # a case outside every cell
    february = pd.DataFrame([key | {"n": 2}, other | {"n": 1}, outside | {"n": 4}], dtype=object)
    march = pd.DataFrame([key | {"n": 5}], dtype=object)
    outside_too = pd.DataFrame([outside | {"n": 1}], dtype=object)
    summed = add_up([february, pd.DataFrame(columns=[*DAILY_KEYS, "n"]), march, outside_too])
    assert len(summed) == 3
    row = summed[(summed.source == "hotline") & summed.h3_r9.notna()].iloc[0]
    assert row.n == 7 and pd.isna(row.grid_id)
    # exact: a 64-bit cell beside a NULL one never goes through a float
    assert summed.h3_r9.dropna().tolist() == [617733122422996991] * 2
    assert all(type(v) is int for v in summed.h3_r9.dropna())
    assert summed[summed.h3_r9.isna()].n.tolist() == [5]
    assert add_up([]).empty


def test_rollups_on_a_dask_cluster_equal_the_single_statement(dask_cluster, demo_engine):
    expected = _single_process(demo_engine)
    assert len(expected["case_daily"]) > 100
    with demo_engine.connect() as conn, conn.begin() as tx:
        n = refresh_rollups_on_dask(conn=conn, scheduler=dask_cluster)
        got = _rollups(conn)
        tx.rollback()
    assert n == len(expected["case_daily"])
    _assert_same(got, expected)
    # in process (no scheduler): the same parts, one after another
    with demo_engine.connect() as conn, conn.begin() as tx:
        refresh_rollups_on_dask(conn=conn, scheduler=None)
        _assert_same(_rollups(conn), expected)
        tx.rollback()


def test_gridgov_analyse_rollups_takes_a_scheduler(dask_cluster, demo_url, demo_engine):
    expected = _single_process(demo_engine)
    result = runner.invoke(
        app, ["analyse", "rollups", "--scheduler", dask_cluster], env={"DATABASE_URL": demo_url}
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"{len(expected['case_daily']):,} rows" in said and f"on {dask_cluster}" in said
    with demo_engine.connect() as conn:
        _assert_same(_rollups(conn), expected)


def test_an_unreachable_scheduler_writes_no_rollup(demo_url, demo_engine):
    with demo_engine.connect() as conn:
        before = _rollups(conn)
    result = runner.invoke(
        app,
        ["analyse", "rollups", "--scheduler", "tcp://127.0.0.1:1"],
        env={"DATABASE_URL": demo_url},
    )
    assert result.exit_code == 2, result.output
    assert "Dask" in result.output and "rollups" in result.output
    with demo_engine.connect() as conn:
        _assert_same(_rollups(conn), before)


def test_a_partial_rebuild_refuses_a_scheduler(demo_url):
    result = runner.invoke(
        app,
        ["analyse", "rollups", "--dirty", "--scheduler", "tcp://127.0.0.1:1"],
        env={"DATABASE_URL": demo_url},
    )
    assert result.exit_code == 2 and "--scheduler" in result.output


def test_a_day_queued_while_the_parts_count_stays_queued(demo_engine, monkeypatch):
    # a case reported while the parts count is not in their snapshot: the day it queued
    # must outlive the rebuild (the single statement clears the queue before it reads)
    from layers import rollups_dask

    with demo_engine.connect() as conn:
        street = conn.execute(sa.text("SELECT min(code) FROM streets")).scalar_one()
    day = date(2026, 1, 15)
    counted = rollups_dask.count_partition
    queued: list[bool] = []

    def count_while_someone_reports(leaf: str, shared: dict) -> pd.DataFrame:  # type: ignore[type-arg]
        if not queued:
            with demo_engine.begin() as other:
                queue_days(other, {street: [day]})
            queued.append(True)
        return counted(leaf, shared)

    monkeypatch.setattr(rollups_dask, "count_partition", count_while_someone_reports)
    try:
        with demo_engine.begin() as conn:  # committed, as the command commits
            refresh_rollups_on_dask(conn=conn, scheduler=None)
        assert queued
        with demo_engine.connect() as conn:
            assert day in dirty_days(conn)
    finally:
        with demo_engine.begin() as conn:
            conn.execute(
                sa.text("DELETE FROM rollup_dirty_days WHERE street_code = :s AND day = :d"),
                {"s": street, "d": day},
            )
