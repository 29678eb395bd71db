"""`gridgov analyse coverage --scheduler tcp://…` on a real multi-process Dask cluster
(`dask scheduler` + two `dask worker` processes on loopback) writes the rows of the
single-process path."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli import app

runner = CliRunner()


def _week(engine) -> tuple[date, date]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        end = conn.execute(sa.text("SELECT max(day) FROM patrols")).scalar_one()
    return end - timedelta(days=6), end


def _rows(engine, week_start: date) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return pd.read_sql(
            sa.text("""
            SELECT grid_id, week_end, covered_share, walked_m, time_spent_h, reach_m
            FROM grid_coverage WHERE week_start = :w ORDER BY grid_id
        """),
            conn,
            params={"w": week_start},
        )


def _coverage(url: str, *args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["analyse", "coverage", *args], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return result


def _forget(engine, week_start: date) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM grid_coverage WHERE week_start = :w"), {"w": week_start})


def _assert_same(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert len(got) == len(expected) > 0
    assert got.grid_id.tolist() == expected.grid_id.tolist()
    assert got.week_end.tolist() == expected.week_end.tolist()
    # a sample is covered or not: the shares are identical; sums differ by rounding only
    np.testing.assert_array_equal(got.covered_share, expected.covered_share)
    np.testing.assert_allclose(got.walked_m, expected.walked_m, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got.time_spent_h, expected.time_spent_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got.reach_m, expected.reach_m)


@pytest.fixture
def keep_coverage(demo_engine):  # type: ignore[no-untyped-def]
    """The demo database is shared by the session: put grid_coverage back as it was."""
    with demo_engine.connect() as conn:
        before = pd.read_sql(sa.text("SELECT * FROM grid_coverage"), conn)
    yield
    with demo_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM grid_coverage"))
        if len(before):
            conn.execute(
                sa.text(
                    f"INSERT INTO grid_coverage ({', '.join(before.columns)}) "
                    f"VALUES ({', '.join(':' + c for c in before.columns)})"
                ),
                before.to_dict("records"),
            )


@pytest.mark.usefixtures("keep_coverage")
def test_coverage_on_a_dask_cluster_equals_the_single_process_rows(
    dask_cluster, demo_url, demo_engine
):
    start, _ = _week(demo_engine)
    _coverage(demo_url, "--week-start", start.isoformat(), "--reach-m", "20")
    expected = _rows(demo_engine, start)
    assert (expected.covered_share > 0).sum() > 10 and (expected.time_spent_h > 0).sum() > 10
    _forget(demo_engine, start)
    result = _coverage(
        demo_url,
        "--week-start",
        start.isoformat(),
        "--reach-m",
        "20",
        "--scheduler",
        dask_cluster,
        "--parts",
        "5",
    )
    assert dask_cluster in result.output
    _assert_same(expected, _rows(demo_engine, start))


def _export_fixes(engine, week: tuple[date, date], folder: Path, split: int) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        fixes = gpd.read_postgis(
            sa.text("""
            SELECT worker_id, at, geom AS geometry FROM patrol_points
            WHERE at >= :s AND at < CAST(:e AS date) + 1
        """),
            conn,
            geom_col="geometry",
            params={"s": week[0], "e": week[1]},
        )
    folder.mkdir()
    workers = np.sort(fixes.worker_id.unique())
    for i, group in enumerate(np.array_split(workers, split)):
        fixes[fixes.worker_id.isin(group)].to_parquet(folder / f"part{i}.parquet")


def _same_from_fixes(expected, fixes: Path, scheduler: str, url: str, engine, week) -> None:  # type: ignore[no-untyped-def]
    """The week's stored rows forgotten, then computed from ``fixes`` on the cluster: the
    same rows as ``expected``."""
    _forget(engine, week[0])
    _coverage(
        url, "--week-start", week[0].isoformat(), "--fixes", str(fixes), "--scheduler", scheduler
    )
    _assert_same(expected, _rows(engine, week[0]))


@pytest.mark.usefixtures("keep_coverage")
def test_coverage_from_geoparquet_fixes_on_the_cluster(
    dask_cluster, demo_url, demo_engine, tmp_path
):
    week = _week(demo_engine)
    _coverage(demo_url, "--week-start", week[0].isoformat())
    expected = _rows(demo_engine, week[0])
    _export_fixes(demo_engine, week, tmp_path / "fixes", split=3)
    _same_from_fixes(expected, tmp_path / "fixes", dask_cluster, demo_url, demo_engine, week)


@pytest.mark.usefixtures("keep_coverage")
def test_coverage_from_the_partition_archive_across_two_months(
    dask_cluster, demo_url, demo_engine, tmp_path
):
    """The week cut in two "months" in the middle of a shift, as `gridgov db partitions
    detach` writes them (one file per worker group, 4 groups in the first, 2 in the second):
    the parts join each worker's files over both months, so the rows are the database's."""
    from gis import fix_archive

    week = _week(demo_engine)
    _coverage(demo_url, "--week-start", week[0].isoformat())
    expected = _rows(demo_engine, week[0])
    _export_fixes(demo_engine, week, tmp_path / "fixes", split=1)
    fixes = gpd.read_parquet(tmp_path / "fixes" / "part0.parquet").rename_geometry("geom")
    cut = fixes["at"].sort_values().iloc[len(fixes) // 2]
    for tag, rows, groups in (
        ("2026-05", fixes[fixes["at"] < cut], 4),
        ("2026-06", fixes[fixes["at"] >= cut], 2),
    ):
        folder = tmp_path / "archive" / tag / "patrol_points"
        folder.mkdir(parents=True)
        (folder.parent / "account.json").write_text(json.dumps({"month": tag, "tables": {}}))
        for i in range(groups):
            rows[rows.worker_id % groups == i].to_parquet(folder / fix_archive.file_name(i, groups))
    straddling = set(fixes[fixes["at"] < cut].worker_id) & set(fixes[fixes["at"] >= cut].worker_id)
    assert straddling  # workers whose week is in both months
    _same_from_fixes(expected, tmp_path / "archive", dask_cluster, demo_url, demo_engine, week)


@pytest.mark.usefixtures("keep_coverage")
def test_a_worker_split_across_files_is_refused(demo_url, demo_engine, tmp_path):
    week = _week(demo_engine)
    _export_fixes(demo_engine, week, tmp_path / "fixes", split=1)
    whole = gpd.read_parquet(tmp_path / "fixes" / "part0.parquet").sort_values("at")
    half = len(whole) // 2
    whole.iloc[:half].to_parquet(tmp_path / "fixes" / "part0.parquet")
    whole.iloc[half:].to_parquet(tmp_path / "fixes" / "part1.parquet")
    result = runner.invoke(
        app,
        [
            "analyse",
            "coverage",
            "--week-start",
            week[0].isoformat(),
            "--fixes",
            str(tmp_path / "fixes"),
        ],
        env={"DATABASE_URL": demo_url},
    )
    assert result.exit_code == 2
    said = " ".join(result.output.split())  # rich wraps lines
    assert "is in two parts (file 0 and file 1)" in said and "every part must hold" in said


def test_an_unreachable_scheduler_is_said_so(demo_url):
    result = runner.invoke(
        app,
        ["analyse", "coverage", "--scheduler", "tcp://127.0.0.1:9"],
        env={"DATABASE_URL": demo_url},
    )
    assert result.exit_code == 2
    assert "No Dask scheduler answers at tcp://127.0.0.1:9" in " ".join(result.output.split())
