"""`gridgov grids delineate --scheduler tcp://…` on a real multi-process Dask cluster
(`dask scheduler` + two `dask worker` processes, the fixture ``dask_cluster``) writes the very
rows of the single-process path: same codes, same geometries byte for byte, same history."""

from __future__ import annotations

import os

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli import app
from tests.conftest import recreate_database, server_url
from tests.dask_cluster import tasks_done

runner = CliRunner()
TWINS = ("gridgov_test_delineate_a", "gridgov_test_delineate_b")
VALID_FROM = "2026-11-21"
SMALLER = ("--target", "250", "--low", "150", "--high", "350")
"""Grids smaller than the demo's: every community is drawn anew (new codes, new rows)."""


@pytest.fixture(scope="module")
def twins(small_district):  # type: ignore[no-untyped-def]
    """Two writable databases holding the small demo district: the second a copy of the first
    (``CREATE DATABASE … TEMPLATE``), so that both start from the very same rows."""
    from layers import migrate
    from layers.demo import load_demo

    first = recreate_database(TWINS[0])
    migrate.upgrade(first)
    with first.begin() as conn:
        load_demo(conn, small_district)
    first.dispose()
    a, b = first.url.database, TWINS[1] + os.environ.get("GRIDGOV_TEST_DB_SUFFIX", "")
    admin = sa.create_engine(server_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{b}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{b}" TEMPLATE "{a}"'))
    admin.dispose()
    engines = (sa.create_engine(server_url(a)), sa.create_engine(server_url(b)))
    yield engines
    for engine in engines:
        engine.dispose()


def _gridgov(engine, *args: str):  # type: ignore[no-untyped-def]
    url = engine.url.render_as_string(hide_password=False)
    return runner.invoke(app, ["grids", *args], env={"DATABASE_URL": url, "COLUMNS": "200"})


def _state(engine) -> dict[str, pd.DataFrame]:  # type: ignore[no-untyped-def]
    """Every row a delineation writes: the grids (geometry as WKB), the parts' grids, the
    workers' grids."""
    with engine.connect() as conn:
        return {
            "grids": pd.read_sql(
                sa.text("""
                SELECT id, code, community_id, households, worker_id, version, valid_from,
                       valid_to, ST_AsBinary(geom) AS wkb FROM grids ORDER BY id
            """),
                conn,
            ),
            "parts": pd.read_sql(sa.text("SELECT id, grid_id FROM parts ORDER BY id"), conn),
        }


def _summary(output: str) -> str:
    """The command's summary and report, without the line naming the scheduler."""
    return "\n".join(line for line in output.splitlines() if not line.startswith("Dask:"))


def test_delineate_on_a_dask_cluster_writes_the_rows_of_one_process(twins, dask_cluster):
    here, there = twins
    before = _state(here)
    tasks_before = tasks_done(dask_cluster, "community_task")
    pd.testing.assert_frame_equal(_state(there)["grids"], before["grids"])
    alone = _gridgov(here, "delineate", *SMALLER, "--valid-from", VALID_FROM)
    assert alone.exit_code == 0, alone.output
    on_dask = _gridgov(
        there, "delineate", *SMALLER, "--valid-from", VALID_FROM, "--scheduler", dask_cluster
    )
    assert on_dask.exit_code == 0, on_dask.output
    assert f"Dask: 4 communities on {dask_cluster}" in on_dask.output
    assert tasks_done(dask_cluster, "community_task") - tasks_before == 4  # on the workers
    expected, got = _state(here), _state(there)
    # a fresh delineation of the demo replaces its grids: new rows were written
    assert len(expected["grids"]) > len(before["grids"])
    assert (expected["grids"].valid_from.astype(str) == VALID_FROM).sum() > 20
    assert expected["grids"].valid_to.notna().sum() > 10  # the old version closed
    for table in ("grids", "parts"):
        pd.testing.assert_frame_equal(got[table], expected[table], check_exact=True)
    assert _summary(on_dask.output) == _summary(alone.output)


def test_an_unreachable_scheduler_is_said_so_in_both_languages_and_nothing_written(twins):
    _, there = twins
    before = _state(there)
    result = _gridgov(there, "delineate", "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code != 0
    said = " ".join(result.output.split())
    assert "error (scheduler_unreachable)" in said
    assert "无法连接" in said and "No Dask scheduler answers at tcp://127.0.0.1:9" in said
    assert "Traceback" not in result.output
    for table, frame in _state(there).items():
        pd.testing.assert_frame_equal(frame, before[table])


def test_a_redraw_on_a_scheduler_is_refused(twins):
    _, there = twins
    result = _gridgov(there, "delineate", "--redraw", "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 2
    assert "leave out --scheduler" in " ".join(result.output.split())
