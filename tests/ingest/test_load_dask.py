"""`gridgov load cases --scheduler tcp://…`: the points are assigned (street, community, grid)
in chunks on a real multi-process Dask cluster (the fixture ``dask_cluster``); the rows loaded,
the quarantine and the notes are those of the single-process load of the same file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import typer
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cli.ingest import load_app
from layers import migrate
from tests.conftest import recreate_database
from tests.dask_cluster import tasks_done
from tests.ingest.conftest import DATA, IMPORTED, MAPPINGS, SHARED

app = typer.Typer()
app.add_typer(load_app, name="load")
runner = CliRunner()
SF311 = SHARED / "sf311_bq_sample_a" / "sf311.csv"
ROWS = 3_000
HALF_OF_THEM = """
INSERT INTO grids (code, community_id, households, valid_from, geom)
SELECT trim(c.code) || lpad(q::text, 3, '0'), c.id, 0, DATE '2000-01-01', g.geom
FROM communities c
CROSS JOIN generate_series(1, 4) AS q
CROSS JOIN LATERAL (SELECT ST_XMin(c.geom) x0, ST_YMin(c.geom) y0, ST_XMax(c.geom) x1,
                           ST_YMax(c.geom) y1) b
CROSS JOIN LATERAL (SELECT ST_Multi(ST_CollectionExtract(ST_Intersection(c.geom,
    ST_MakeEnvelope(CASE WHEN q IN (1, 3) THEN b.x0 ELSE (b.x0 + b.x1) / 2 END,
                    CASE WHEN q IN (1, 2) THEN b.y0 ELSE (b.y0 + b.y1) / 2 END,
                    CASE WHEN q IN (1, 3) THEN (b.x0 + b.x1) / 2 ELSE b.x1 END,
                    CASE WHEN q IN (1, 2) THEN (b.y0 + b.y1) / 2 ELSE b.y1 END, 4326)), 3))
    AS geom) g
WHERE c.id % 2 = 0 AND NOT ST_IsEmpty(g.geom)
"""
"""Four grids (quarters of the bounding box) in every other SF neighbourhood: points fall in
a grid, in a community without grids, or outside."""


@pytest.fixture(scope="module")
def sf_engine() -> Iterator[Engine]:
    """A database of its own: the catalogue, the SF 311 neighbourhoods, grids in half of them."""
    from layers.catalogue import load_catalogue
    from layers.ingest import load_boundaries, load_mapping

    assert SF311.is_file(), f"{SF311} is missing (set GRIDGOV_SHARED_DATA to the shared data)"
    eng = recreate_database("gridgov_test_load_dask")
    migrate.upgrade(eng)
    with eng.begin() as conn:
        load_catalogue(conn)
    with eng.connect() as conn:
        load_boundaries(
            DATA / "sf-neighborhoods-311.geojson",
            load_mapping(MAPPINGS / "sf_neighborhoods.yaml"),
            conn=conn,
        )
        conn.commit()
    with eng.begin() as conn:
        conn.execute(sa.text(HALF_OF_THEM))
        conn.execute(sa.text("TRUNCATE import_notes, import_quarantine, import_runs"))
    yield eng
    eng.dispose()


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {IMPORTED} RESTART IDENTITY CASCADE"))


def _load(engine: Engine, path: Path, *args: str):  # type: ignore[no-untyped-def]
    url = engine.url.render_as_string(hide_password=False)
    result = runner.invoke(
        app,
        ["load", "cases", str(path), "-m", str(MAPPINGS / "sf311_bigquery.yaml"), *args],
        env={"DATABASE_URL": url, "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    return result


def _state(engine: Engine) -> dict[str, pd.DataFrame]:
    """The loaded cases (every column but the load's own clock), the quarantine, the notes."""
    with engine.connect() as conn:
        cases = pd.read_sql(
            sa.text("SELECT *, ST_AsBinary(geom) AS wkb FROM cases ORDER BY source_id"), conn
        ).drop(columns=["geom"])
        quarantine = pd.read_sql(
            sa.text("SELECT * FROM import_quarantine ORDER BY row_number, id"), conn
        )
        notes = pd.read_sql(sa.text("SELECT * FROM import_notes ORDER BY id"), conn)
        events = pd.read_sql(
            sa.text("SELECT case_id, action, reason FROM case_events ORDER BY id"), conn
        )
    clock = [c for c in (*cases.columns, *quarantine.columns, *notes.columns) if
             c.endswith("_at") and c not in ("reported_at", "closed_at")]  # fmt: skip
    return {
        "cases": cases.drop(columns=[c for c in clock if c in cases]),
        "quarantine": quarantine.drop(columns=[c for c in clock if c in quarantine]),
        "notes": notes.drop(columns=[c for c in clock if c in notes]),
        "events": events,
    }


@pytest.fixture(scope="module")
def sf311_rows(tmp_path_factory) -> Path:
    """The first :data:`ROWS` rows of the SF 311 sample (a load of all 10,000 takes 30 s on
    a busy 2-core machine)."""
    path = tmp_path_factory.mktemp("sf311") / "sf311_head.csv"
    pd.read_csv(SF311, nrows=ROWS, dtype=str, keep_default_na=False).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def in_process(sf_engine: Engine, sf311_rows: Path) -> dict[str, pd.DataFrame]:
    """What the single-process load of the sample writes."""
    _empty(sf_engine)
    _load(sf_engine, sf311_rows)
    return _state(sf_engine)


def test_load_on_a_dask_cluster_loads_and_quarantines_the_rows_of_one_process(
    sf_engine, sf311_rows, in_process, dask_cluster
):
    expected = in_process
    cases = expected["cases"]
    # the sample exercises every branch: in a grid, in a community only, quarantined outside
    assert cases.grid_id.notna().sum() > 300 and cases.grid_id.isna().sum() > 300
    assert cases.community_id.notna().all()
    reasons = set(expected["quarantine"].reason)
    assert {"zero_coordinates", "outside_area"} <= reasons, reasons
    _empty(sf_engine)
    before = tasks_done(dask_cluster, "locate_chunk")
    result = _load(sf_engine, sf311_rows, "--scheduler", dask_cluster, "--chunk-rows", "397")
    assert f"Dask: points assigned in chunks on {dask_cluster}" in result.output
    assert tasks_done(dask_cluster, "locate_chunk") - before >= 5  # on the cluster's workers
    got = _state(sf_engine)
    for table, frame in expected.items():
        pd.testing.assert_frame_equal(got[table], frame, check_exact=True, obj=table)


def test_an_unreachable_scheduler_loads_nothing(sf_engine):
    _empty(sf_engine)
    url = sf_engine.url.render_as_string(hide_password=False)
    result = runner.invoke(
        app,
        [
            "load",
            "cases",
            str(SF311),
            "-m",
            str(MAPPINGS / "sf311_bigquery.yaml"),
            "--scheduler",
            "tcp://127.0.0.1:9",
        ],
        env={"DATABASE_URL": url, "COLUMNS": "200"},
    )
    assert result.exit_code != 0
    said = " ".join(result.output.split())
    assert "error (scheduler_unreachable)" in said and "无法连接" in said
    with sf_engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT count(*) FROM import_runs")).scalar_one()
        cases = conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
    assert (runs, cases) == (0, 0)


def _buildings(engine: Engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as conn:
        frames = {
            "buildings": pd.read_sql(
                sa.text("SELECT *, ST_AsBinary(geom) AS wkb FROM buildings ORDER BY id"), conn
            ).drop(columns=["geom"]),
            "quarantine": pd.read_sql(
                sa.text("SELECT * FROM import_quarantine ORDER BY row_number, id"), conn
            ),
        }
    return {k: f.drop(columns=[c for c in f if c.endswith("_at")]) for k, f in frames.items()}


def test_buildings_on_the_cluster_are_those_of_one_process(sf_engine, dask_cluster):
    url = sf_engine.url.render_as_string(hide_password=False)

    def load(*args: str) -> dict[str, pd.DataFrame]:
        _empty(sf_engine)
        result = runner.invoke(
            app,
            [
                "load",
                "buildings",
                str(DATA / "sf_addresses_sample.csv"),
                "-m",
                str(MAPPINGS / "sf_addresses.yaml"),
                *args,
            ],
            env={"DATABASE_URL": url, "COLUMNS": "200"},
        )
        assert result.exit_code == 0, result.output
        return _buildings(sf_engine)

    expected = load()
    assert expected["buildings"].community_id.notna().sum() > 100
    before = tasks_done(dask_cluster, "locate_chunk")
    got = load("--scheduler", dask_cluster, "--chunk-rows", "101")
    assert tasks_done(dask_cluster, "locate_chunk") - before >= 2
    for table, frame in expected.items():
        pd.testing.assert_frame_equal(got[table], frame, check_exact=True, obj=table)
